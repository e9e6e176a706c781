using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// PassthroughFs when the connection runs the kernel's writeback cache: the kernel READs through the handle of
/// whichever open writes to a page it has not cached whole, a write-only open's too, so every kind of write-only open
/// (OPEN, CREATE of an existing name, O_TMPFILE, O_DIRECT) gives a host descriptor that reads; without the writeback
/// cache a write-only open stays write-only on the host.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughWritebackUnitTests : PassthroughTestKit
{
    private const OpenFlags LargeFile = (OpenFlags)0x8000; // O_LARGEFILE on x86-64

    public PassthroughWritebackUnitTests() : base(new PassthroughOptions { KernelPassthrough = false }) =>
        Protocol = new NegotiatedProtocol { WritebackCache = true };

    private string Text(byte[] b) => Encoding.ASCII.GetString(b);

    [Fact]
    public void A_write_only_open_reads_and_its_cache_writes_land_at_their_offsets_even_with_O_APPEND()
    {
        File.WriteAllText(InSource("f"), "hello world\n");
        var n = Lookup(Root, "f").NodeId;
        var fh = Open(n, OpenFlags.WriteOnly | OpenFlags.Append | LargeFile);
        Assert.Equal("hello", Text(Read(n, fh, 0, 5)));
        Ok(new WriteRequest { Fh = fh, Offset = 0, Data = "J"u8.ToArray(), WriteFlags = WriteFlags.Cache }, n);
        Release(n, fh);
        Assert.Equal("Jello world\n", File.ReadAllText(InSource("f")));
    }

    [Fact]
    public void Create_of_an_existing_name_O_TMPFILE_and_O_DIRECT_write_only_opens_read_too()
    {
        File.WriteAllText(InSource("f"), "existing");
        var (e, fh) = Create(Root, "f", flags: OpenFlags.WriteOnly | OpenFlags.Create | LargeFile);
        Assert.Equal("exist", Text(Read(e.NodeId, fh, 0, 5)));
        Release(e.NodeId, fh);

        var tmp = Ok(new CreateRequest { Name = ".", IsTmpFile = true, Mode = S_IFREG | 0x180, Flags = OpenFlags.WriteOnly | LargeFile, Umask = 0x12 }, Root);
        var p = Payload(tmp);
        var (te, tfh) = (Decode<FuseEntryOut>(p), Decode<FuseOpenOut>(p, System.Runtime.InteropServices.Marshal.SizeOf<FuseEntryOut>()).Fh);
        Assert.Equal(4u, Write(te.NodeId, tfh, 0, "temp"u8.ToArray()));
        Assert.Equal("temp", Text(Read(te.NodeId, tfh, 0, 4)));
        Release(te.NodeId, tfh);

        var n = Lookup(Root, "f").NodeId;
        var dfh = Open(n, OpenFlags.WriteOnly | OpenFlagsExtensions.Direct | LargeFile);
        Assert.Equal("existing", Text(Read(n, dfh, 0, 100)));
        Release(n, dfh);
    }

    [Fact]
    public void Without_the_writeback_cache_a_write_only_open_stays_write_only_on_the_host()
    {
        Protocol = new NegotiatedProtocol { WritebackCache = false };
        File.WriteAllText(InSource("f"), "hello");
        var n = Lookup(Root, "f").NodeId;
        var fh = Open(n, OpenFlags.WriteOnly | LargeFile);
        Assert.Equal(Errno.EBADF, Err(new ReadRequest { Fh = fh, Offset = 0, Size = 5 }, n));
        Release(n, fh);
    }
}
