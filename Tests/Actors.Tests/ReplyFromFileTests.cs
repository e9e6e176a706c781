using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// <see cref="ReadRequest.ReplyFromFile"/>: on a device with its own reply buffers (io_uring) the device reads the file
/// and writes the reply during the call, and the request goes back to the connection marked as written; on any other
/// device the file is read into a pooled buffer and answered as a normal reply. Either way the reply never exceeds
/// the READ's size, a failed read of the file is answered with its errno, and a request the engine already answered
/// is not written again. (The real io_uring path is tested on a mount in IoUringTransportTests.)
/// </summary>
public sealed class ReplyFromFileTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _file = Path.GetTempFileName();
    private readonly FileStream _stream;

    public ReplyFromFileTests() : base("akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR")
    {
        File.WriteAllBytes(_file, Encoding.ASCII.GetBytes("0123456789abcdefghij"));
        _stream = new FileStream(_file, FileMode.Open, FileAccess.Read);
    }

    private int Fd => (int)_stream.SafeFileHandle.DangerousGetHandle();

    /// <summary>Stands in for an io_uring queue: records what it was asked to send and reads the file itself.</summary>
    private sealed class RecordingFileReplyDevice : IFuseDevice, IFileReplyDevice
    {
        public readonly List<(ulong Unique, long Offset, int Length)> Calls = new();
        public byte[] Sent = [];
        public string Name => "recording";
        public int Read(Span<byte> buffer) => -(int)Errno.ENODEV;
        public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => throw new InvalidOperationException("ReplyFromFile must not fall back to Write");
        public void Dispose() { }

        public int ReplyFromFile(ulong unique, int fd, long offset, int length, out int writeResult)
        {
            Calls.Add((unique, offset, length));
            var buffer = new byte[length];
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false);
            int n = RandomAccess.Read(handle, buffer, offset);
            Sent = buffer[..n];
            writeResult = FuseConstants.OutHeaderSize + n;
            return n;
        }
    }

    private ReadRequest Read(ulong unique, ulong offset, uint size, IFuseDevice? device) => new()
    {
        Header = new FuseInHeader { Unique = unique, Opcode = (uint)Opcode.Read, NodeId = 2 },
        Args = new ReadArgs { Offset = offset, Size = size },
        Device = device,
        ReplyTo = TestActor,
    };

    [Fact]
    public void On_a_file_reply_device_the_device_sends_the_bytes_and_the_request_comes_back_written()
    {
        var device = new RecordingFileReplyDevice();
        var r = Read(7, 4, 6, device);
        Assert.True(r.ReplyFromFile(Fd, 4, 100)); // asks for more than the READ's size: clamped to it

        var back = ExpectMsg<ReadRequest>();
        Assert.Same(r, back);
        Assert.True(back.ReplyWritten);
        Assert.Equal(Errno.Ok, back.Error);
        Assert.Equal((7UL, 4L, 6), Assert.Single(device.Calls));
        Assert.Equal("456789", Encoding.ASCII.GetString(device.Sent));
        Assert.Equal(6, back.ReplyLength);
        Assert.Equal(FuseConstants.OutHeaderSize + 6, back.ReplyWrittenResult);
        Assert.False(r.ReplyFromFile(Fd, 0, 1)); // answered once only
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Elsewhere_the_file_is_read_into_a_pooled_buffer_and_answered_as_a_normal_reply()
    {
        var r = Read(8, 16, 10, device: null);
        Assert.True(r.ReplyFromFile(Fd, 16, 10)); // 4 bytes before the end of file: a short reply

        var back = ExpectMsg<ReadRequest>();
        Assert.False(back.ReplyWritten);
        Assert.Equal(Errno.Ok, back.Error);
        Assert.Equal("ghij", Encoding.ASCII.GetString(back.EncodeReply(new byte[64], new NegotiatedProtocol())));
        back.ReleaseBuffers();
    }

    [Fact]
    public void A_failed_read_of_the_file_is_answered_with_its_errno()
    {
        var r = Read(9, 0, 10, device: null);
        Assert.True(r.ReplyFromFile(-1, 0, 10));
        Assert.Equal(Errno.EBADF, ExpectMsg<ReadRequest>().Error);
    }

    [Fact]
    public void A_request_the_engine_already_answered_is_not_written_again()
    {
        var device = new RecordingFileReplyDevice();
        var r = Read(10, 0, 10, device);
        Assert.True(r.TryClaimForEngine(Errno.EINTR));
        Assert.False(r.ReplyFromFile(Fd, 0, 10));
        Assert.Empty(device.Calls);
        Assert.True(ExpectMsg<ReadRequest>().IsLateReply); // it still goes back once, to end its background life
    }

    public new void Dispose()
    {
        _stream.Dispose();
        File.Delete(_file);
        base.Dispose();
    }
}
