using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// <see cref="ReadRequest.TryReplyInPlace{TState}"/>: on a device with its own reply buffers (io_uring) the filesystem
/// writes the reply into that buffer and the device sends it, and the request goes back to the connection marked as
/// written. While the fill runs the engine cannot answer the request; a fill that refuses leaves it open, for the
/// engine or another reply. On any other device nothing is answered. (The real io_uring path is tested on a mount in
/// IoUringTransportTests.)
/// </summary>
public sealed class InPlaceReplyTests : Akka.TestKit.Xunit2.TestKit
{
    public InPlaceReplyTests() : base("akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR") { }

    /// <summary>Stands in for an io_uring queue: one reply buffer, and what it was asked to send.</summary>
    private sealed class RecordingInPlaceDevice : IFuseDevice, IInPlaceReplyDevice
    {
        public readonly byte[] Buffer = new byte[64];
        public readonly List<(ulong Unique, int Length)> Sent = new();
        public string Name => "recording";
        public int Read(Span<byte> buffer) => -(int)Errno.ENODEV;
        public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => throw new InvalidOperationException("an in-place reply must not fall back to Write");
        public void Dispose() { }

        public Span<byte> BeginInPlaceReply(ulong unique, int length, out int slot)
        {
            slot = length <= Buffer.Length ? 0 : -1;
            return slot < 0 ? default : Buffer.AsSpan(0, length);
        }

        public int EndInPlaceReply(int slot, ulong unique, int length)
        {
            Sent.Add((unique, length));
            return FuseConstants.OutHeaderSize + length;
        }
    }

    private ReadRequest Read(ulong unique, uint size, IFuseDevice? device) => new()
    {
        Header = new FuseInHeader { Unique = unique, Opcode = (uint)Opcode.Read, NodeId = 2 },
        Args = new ReadArgs { Offset = 0, Size = size },
        Device = device,
        ReplyTo = TestActor,
    };

    [Fact]
    public void The_fill_writes_into_the_device_buffer_which_sends_it_and_the_engine_cannot_answer_meanwhile()
    {
        var device = new RecordingInPlaceDevice();
        var r = Read(7, 10, device);
        Assert.True(r.TryReplyInPlace(r, static (request, buffer) =>
        {
            "0123456789"u8.CopyTo(buffer);
            return 6; // fewer: the file ended
        }));
        var back = ExpectMsg<ReadRequest>();
        Assert.Same(r, back);
        Assert.True(back.ReplyWritten && back.IsReplied);
        Assert.Equal(Errno.Ok, back.Error);
        Assert.Equal((7UL, 6), Assert.Single(device.Sent));
        Assert.Equal(6, back.ReplyLength);
        Assert.Equal(FuseConstants.OutHeaderSize + 6, back.ReplyWrittenResult);
        Assert.Equal("012345", System.Text.Encoding.ASCII.GetString(device.Buffer, 0, 6));

        // During a fill the reply is the filesystem's: the engine's claim (timeout, interrupt grace) fails.
        var second = Read(8, 10, device);
        bool engineClaimed = true, repliedDuringFill = true;
        Assert.True(second.TryReplyInPlace(second, (request, buffer) =>
        {
            repliedDuringFill = request.IsReplied;
            engineClaimed = request.TryClaimForEngine(Errno.EIO);
            return 0;
        }));
        Assert.False(engineClaimed || repliedDuringFill);
        ExpectMsg<ReadRequest>();
        Assert.False(r.TryReplyInPlace(0, static (_, _) => 1)); // answered once only
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_fill_that_refuses_leaves_the_request_open_for_another_reply_or_the_engine()
    {
        var device = new RecordingInPlaceDevice();
        var r = Read(9, 10, device);
        Assert.False(r.TryReplyInPlace(0, static (_, _) => -1));
        Assert.False(r.TryReplyInPlace(0, static (_, buffer) => buffer.Length + 1)); // more than the buffer: refused too
        Assert.False(r.IsReplied);
        Assert.Empty(device.Sent);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.True(r.TryClaimForEngine(Errno.ETIMEDOUT));
        Assert.False(r.TryReplyInPlace(0, static (_, _) => 1)); // the engine answered: nothing more
        Assert.Empty(device.Sent);

        var other = Read(10, 10, device);
        Assert.False(other.TryReplyInPlace(0, static (_, _) => -1));
        Assert.True(other.Reply(new byte[] { 1, 2, 3 }));
        Assert.Same(other, ExpectMsg<ReadRequest>());
    }

    [Fact]
    public void A_fill_that_throws_or_a_request_the_device_no_longer_holds_leaves_the_request_open()
    {
        var device = new RecordingInPlaceDevice();
        var r = Read(12, 10, device);
        Assert.Throws<InvalidOperationException>(() => r.TryReplyInPlace(0, static (_, _) => throw new InvalidOperationException("a bug in the fill")));
        Assert.False(r.IsReplied);
        Assert.True(r.Fail(Errno.EIO)); // the handler's failure is answered as any other
        Assert.Same(r, ExpectMsg<ReadRequest>());

        // Too large for the device's buffer (or no longer in it): the fill never runs, nothing is sent.
        var big = Read(13, 100, device);
        bool filled = false;
        Assert.False(big.TryReplyInPlace(0, (_, _) => { filled = true; return 0; }));
        Assert.False(filled || big.IsReplied);
        Assert.Empty(device.Sent);
    }

    [Fact]
    public void Elsewhere_nothing_is_answered()
    {
        var r = Read(11, 10, device: null);
        bool filled = false;
        Assert.False(r.TryReplyInPlace(0, (_, _) => { filled = true; return 1; }));
        Assert.False(filled || r.IsReplied);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
