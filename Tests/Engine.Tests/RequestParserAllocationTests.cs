using System.Buffers.Binary;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests;

/// <summary>
/// The parser allocates nothing of its own beyond the names it decodes (the engine's factory then adds the one
/// request object): checked with a factory that builds nothing.
/// </summary>
public sealed class RequestParserAllocationTests
{
    private struct Nothing : IRequestFactory<int>
    {
        public int Lookup(in FuseInHeader h, in LookupArgs a) => 0;
        public int Forget(in FuseInHeader h, in ForgetArgs a) => 0;
        public int GetAttr(in FuseInHeader h, in GetAttrArgs a) => 0;
        public int SetAttr(in FuseInHeader h, in SetAttrArgs a) => 0;
        public int ReadLink(in FuseInHeader h) => 0;
        public int Symlink(in FuseInHeader h, in SymlinkArgs a) => 0;
        public int MkNod(in FuseInHeader h, in MkNodArgs a) => 0;
        public int MkDir(in FuseInHeader h, in MkDirArgs a) => 0;
        public int Unlink(in FuseInHeader h, in UnlinkArgs a) => 0;
        public int RmDir(in FuseInHeader h, in RmDirArgs a) => 0;
        public int Rename(in FuseInHeader h, in RenameArgs a) => 0;
        public int Link(in FuseInHeader h, in LinkArgs a) => 0;
        public int Open(in FuseInHeader h, in OpenArgs a) => 0;
        public int Read(in FuseInHeader h, in ReadArgs a) => 0;
        public int ReadDir(in FuseInHeader h, in ReadDirArgs a) => 0;
        public int Write(in FuseInHeader h, in WriteArgs a) => 0;
        public int StatFs(in FuseInHeader h) => 0;
        public int Release(in FuseInHeader h, in ReleaseArgs a) => 0;
        public int Fsync(in FuseInHeader h, in FsyncArgs a) => 0;
        public int SetXAttr(in FuseInHeader h, in SetXAttrArgs a) => 0;
        public int GetXAttr(in FuseInHeader h, in GetXAttrArgs a) => 0;
        public int ListXAttr(in FuseInHeader h, in ListXAttrArgs a) => 0;
        public int RemoveXAttr(in FuseInHeader h, in RemoveXAttrArgs a) => 0;
        public int Flush(in FuseInHeader h, in FlushArgs a) => 0;
        public int Init(in FuseInHeader h, in InitArgs a) => 0;
        public int Access(in FuseInHeader h, in AccessArgs a) => 0;
        public int Create(in FuseInHeader h, in CreateArgs a) => 0;
        public int Interrupt(in FuseInHeader h, in InterruptArgs a) => 0;
        public int Destroy(in FuseInHeader h) => 0;
        public int Fallocate(in FuseInHeader h, in FallocateArgs a) => 0;
        public int Lseek(in FuseInHeader h, in LseekArgs a) => 0;
        public int CopyFileRange(in FuseInHeader h, in CopyFileRangeArgs a) => 0;
        public int NotifyReply(in FuseInHeader h, in NotifyReplyArgs a) => 0;
        public int Malformed(in FuseInHeader h, string reason) => 0;
        public int Unsupported(in FuseInHeader h) => 0;
    }

    private static readonly NegotiatedProtocol Protocol = new();

    private static (byte[] Buffer, int Length) Build(Opcode opcode, int bodyLength, ReadOnlySpan<byte> tail, uint writeSize = 0)
    {
        int length = FuseConstants.InHeaderSize + bodyLength + tail.Length;
        var buffer = new byte[length + 64];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)opcode);
        if (opcode == Opcode.Write) BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FuseConstants.InHeaderSize + 16), writeSize);
        tail.CopyTo(buffer.AsSpan(FuseConstants.InHeaderSize + bodyLength));
        return (buffer, length);
    }

    private static long AllocatedBy(byte[] buffer, int length, int times)
    {
        var f = new Nothing();
        RequestParser.Parse<Nothing, int>(ref f, buffer, length, Protocol, out _); // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < times; i++) RequestParser.Parse<Nothing, int>(ref f, buffer, length, Protocol, out _);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Theory]
    [InlineData(Opcode.GetAttr, 16)]
    [InlineData(Opcode.SetAttr, 88)]
    [InlineData(Opcode.Open, 8)]
    [InlineData(Opcode.Read, 40)]
    [InlineData(Opcode.Release, 24)]
    [InlineData(Opcode.Flush, 24)]
    [InlineData(Opcode.Init, 64)]
    [InlineData(Opcode.Init, 16)]   // pre-7.36 body: padded on the stack
    public void Fixed_struct_requests_allocate_nothing(Opcode opcode, int bodyLength)
    {
        var (buffer, length) = Build(opcode, bodyLength, default);
        Assert.Equal(0, AllocatedBy(buffer, length, 100));
    }

    [Fact]
    public void Write_allocates_nothing_and_keeps_the_buffer()
    {
        var (buffer, length) = Build(Opcode.Write, 40, new byte[4096], 4096);
        Assert.Equal(0, AllocatedBy(buffer, length, 100));
    }

    [Fact]
    public void Lookup_allocates_only_its_name()
    {
        var (buffer, length) = Build(Opcode.Lookup, 0, "some-file-name.txt\0"u8);
        // One array of the name's bytes (no string: a name is bytes, and decoding would also cost more).
        _ = "some-file-name.txt"u8.ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) _ = "some-file-name.txt"u8.ToArray();
        long names = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(names, AllocatedBy(buffer, length, 100));
    }
}
