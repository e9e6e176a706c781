using System.Buffers.Binary;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// <see cref="RequestFactory"/>: what the parser reads (tested byte by byte in Engine.Tests' RequestParserTests)
/// becomes the right request class, with the header and arguments the filesystem reads, and a WRITE keeps the
/// read buffer so the engine can return it to the pool after the reply.
/// </summary>
public sealed class RequestFactoryTests
{
    private static readonly NegotiatedProtocol Default = new();

    /// <summary>A request with a zeroed body of <paramref name="bodyLength"/> bytes (plus <paramref name="tail"/>),
    /// at the start of a larger buffer whose tail is garbage.</summary>
    private static (byte[] Buffer, int Length) Build(Opcode opcode, int bodyLength, byte[]? tail = null)
    {
        tail ??= [];
        int length = FuseConstants.InHeaderSize + bodyLength + tail.Length;
        var buffer = new byte[length + 64];
        buffer.AsSpan().Fill(0xEE);
        buffer.AsSpan(0, length).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(8), 0x77);   // unique
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(16), 5);     // nodeid
        tail.CopyTo(buffer, FuseConstants.InHeaderSize + bodyLength);
        return (buffer, length);
    }

    public static TheoryData<Opcode, int, string, Type> Kinds() => new()
    {
        { Opcode.Lookup, 0, "a\0", typeof(LookupRequest) },
        { Opcode.Forget, 8, "", typeof(ForgetRequest) },
        { Opcode.BatchForget, 8, "", typeof(ForgetRequest) },
        { Opcode.GetAttr, 16, "", typeof(GetAttrRequest) },
        { Opcode.SetAttr, 88, "", typeof(SetAttrRequest) },
        { Opcode.ReadLink, 0, "", typeof(ReadLinkRequest) },
        { Opcode.Symlink, 0, "a\0b\0", typeof(SymlinkRequest) },
        { Opcode.MkNod, 16, "a\0", typeof(MkNodRequest) },
        { Opcode.MkDir, 8, "a\0", typeof(MkDirRequest) },
        { Opcode.Unlink, 0, "a\0", typeof(UnlinkRequest) },
        { Opcode.RmDir, 0, "a\0", typeof(RmDirRequest) },
        { Opcode.Rename, 8, "a\0b\0", typeof(RenameRequest) },
        { Opcode.Rename2, 16, "a\0b\0", typeof(RenameRequest) },
        { Opcode.Link, 8, "a\0", typeof(LinkRequest) },
        { Opcode.Open, 8, "", typeof(OpenRequest) },
        { Opcode.OpenDir, 8, "", typeof(OpenRequest) },
        { Opcode.Read, 40, "", typeof(ReadRequest) },
        { Opcode.ReadDir, 40, "", typeof(ReadDirRequest) },
        { Opcode.ReadDirPlus, 40, "", typeof(ReadDirRequest) },
        { Opcode.StatFs, 0, "", typeof(StatFsRequest) },
        { Opcode.Release, 24, "", typeof(ReleaseRequest) },
        { Opcode.ReleaseDir, 24, "", typeof(ReleaseRequest) },
        { Opcode.Fsync, 16, "", typeof(FsyncRequest) },
        { Opcode.FsyncDir, 16, "", typeof(FsyncRequest) },
        { Opcode.SetXAttr, 8, "a\0", typeof(SetXAttrRequest) },
        { Opcode.GetXAttr, 8, "a\0", typeof(GetXAttrRequest) },
        { Opcode.ListXAttr, 8, "", typeof(ListXAttrRequest) },
        { Opcode.RemoveXAttr, 0, "a\0", typeof(RemoveXAttrRequest) },
        { Opcode.Flush, 24, "", typeof(FlushRequest) },
        { Opcode.Init, 64, "", typeof(InitRequest) },
        { Opcode.Access, 8, "", typeof(AccessRequest) },
        { Opcode.Create, 16, "a\0", typeof(CreateRequest) },
        { Opcode.Interrupt, 8, "", typeof(InterruptRequest) },
        { Opcode.Destroy, 0, "", typeof(DestroyRequest) },
        { Opcode.Fallocate, 32, "", typeof(FallocateRequest) },
        { Opcode.Lseek, 24, "", typeof(LseekRequest) },
        { Opcode.CopyFileRange, 56, "", typeof(CopyFileRangeRequest) },
        { Opcode.CopyFileRange64, 56, "", typeof(CopyFileRangeRequest) },
        { Opcode.NotifyReply, 40, "", typeof(NotifyReplyRequest) },
        { (Opcode)9999, 0, "", typeof(UnsupportedRequest) },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Each_opcode_becomes_its_request(Opcode opcode, int bodyLength, string names, Type expected)
    {
        var (buffer, length) = Build(opcode, bodyLength, System.Text.Encoding.UTF8.GetBytes(names));
        var r = RequestFactory.Parse(buffer, length, Default, out bool took);
        Assert.IsType(expected, r);
        Assert.False(took);
        // A RENAME2 without flags reads as RENAME (the kernel only sends RENAME2 with flags).
        Assert.Equal(opcode == Opcode.Rename2 ? Opcode.Rename : opcode, r.Opcode);
        Assert.Equal(0x77ul, r.Unique);
        Assert.Equal(5ul, r.NodeId);
    }

    [Fact]
    public void Write_keeps_the_read_buffer()
    {
        var (buffer, length) = Build(Opcode.Write, 40, "hello"u8.ToArray());
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize + 16), 5); // fuse_write_in.size
        var r = Assert.IsType<WriteRequest>(RequestFactory.Parse(buffer, length, Default, out bool took));
        Assert.True(took);
        Assert.Same(buffer, r.Buffer);
        Assert.Equal("hello"u8.ToArray(), r.Data.ToArray());
        Assert.Equal(5u, r.Size);
    }

    [Fact]
    public void Malformed_body_becomes_a_MalformedRequest_with_the_reason()
    {
        var (buffer, length) = Build(Opcode.Lookup, 0, "abc"u8.ToArray()); // no NUL
        var m = Assert.IsType<MalformedRequest>(RequestFactory.Parse(buffer, length, Default, out bool took));
        Assert.False(took);
        Assert.Equal((uint)Opcode.Lookup, m.RawOpcode);
        Assert.Equal(0x77ul, m.Unique);
        Assert.Equal("Lookup body of 3 bytes is malformed", m.Reason);
    }

    [Fact]
    public void Short_write_payload_does_not_keep_the_buffer()
    {
        var (buffer, length) = Build(Opcode.Write, 40, "hi"u8.ToArray());
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize + 16), 5); // claims 5, has 2
        Assert.IsType<MalformedRequest>(RequestFactory.Parse(buffer, length, Default, out bool took));
        Assert.False(took);
    }

    [Fact]
    public void Typed_flags_reach_the_request()
    {
        var (buffer, length) = Build(Opcode.Open, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize), 0x8202);    // O_RDWR | O_TRUNC | O_LARGEFILE
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize + 4), 1);     // FUSE_OPEN_KILL_SUIDGID
        var o = Assert.IsType<OpenRequest>(RequestFactory.Parse(buffer, length, Default, out _));
        Assert.Equal(OpenFlags.ReadWrite, o.Flags.AccessMode());
        Assert.True((o.Flags & OpenFlags.Truncate) != 0);
        Assert.Equal(KernelOpenFlags.KillSuidGid, o.KernelOpenFlags);

        (buffer, length) = Build(Opcode.Rename2, 16, "a\0b\0"u8.ToArray());
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize + 8), 2);     // RENAME_EXCHANGE
        var r = Assert.IsType<RenameRequest>(RequestFactory.Parse(buffer, length, Default, out _));
        Assert.Equal(RenameFlags.Exchange, r.Flags);
        Assert.True(r.Exchange);
        Assert.Equal(Opcode.Rename2, r.Opcode);
    }
}
