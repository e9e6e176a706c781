using System.Buffers.Binary;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests;

/// <summary>
/// The parser allocates nothing of its own beyond the names it decodes (the engine's factory then adds the one
/// request object): checked with a factory that builds nothing.
/// </summary>
public sealed class RequestParserAllocationTests
{
    // One object for every result, so the parser's own allocations are all that is counted.
    private static readonly object Done = new();

    private struct Nothing : IRequestFactory<object>
    {
        public object Lookup(in FuseInHeader h, in LookupArgs a) => Done;
        public object Forget(in FuseInHeader h, in ForgetArgs a) => Done;
        public object GetAttr(in FuseInHeader h, in GetAttrArgs a) => Done;
        public object SetAttr(in FuseInHeader h, in SetAttrArgs a) => Done;
        public object ReadLink(in FuseInHeader h) => Done;
        public object Symlink(in FuseInHeader h, in SymlinkArgs a) => Done;
        public object MkNod(in FuseInHeader h, in MkNodArgs a) => Done;
        public object MkDir(in FuseInHeader h, in MkDirArgs a) => Done;
        public object Unlink(in FuseInHeader h, in UnlinkArgs a) => Done;
        public object RmDir(in FuseInHeader h, in RmDirArgs a) => Done;
        public object Rename(in FuseInHeader h, in RenameArgs a) => Done;
        public object Link(in FuseInHeader h, in LinkArgs a) => Done;
        public object Open(in FuseInHeader h, in OpenArgs a) => Done;
        public object Read(in FuseInHeader h, in ReadArgs a) => Done;
        public object ReadDir(in FuseInHeader h, in ReadDirArgs a) => Done;
        public object Write(in FuseInHeader h, in WriteArgs a) => Done;
        public object StatFs(in FuseInHeader h) => Done;
        public object Release(in FuseInHeader h, in ReleaseArgs a) => Done;
        public object Fsync(in FuseInHeader h, in FsyncArgs a) => Done;
        public object SetXAttr(in FuseInHeader h, in SetXAttrArgs a) => Done;
        public object GetXAttr(in FuseInHeader h, in GetXAttrArgs a) => Done;
        public object ListXAttr(in FuseInHeader h, in ListXAttrArgs a) => Done;
        public object RemoveXAttr(in FuseInHeader h, in RemoveXAttrArgs a) => Done;
        public object Flush(in FuseInHeader h, in FlushArgs a) => Done;
        public object Init(in FuseInHeader h, in InitArgs a) => Done;
        public object Access(in FuseInHeader h, in AccessArgs a) => Done;
        public object Create(in FuseInHeader h, in CreateArgs a) => Done;
        public object Interrupt(in FuseInHeader h, in InterruptArgs a) => Done;
        public object Destroy(in FuseInHeader h) => Done;
        public object Fallocate(in FuseInHeader h, in FallocateArgs a) => Done;
        public object Lseek(in FuseInHeader h, in LseekArgs a) => Done;
        public object CopyFileRange(in FuseInHeader h, in CopyFileRangeArgs a) => Done;
        public object NotifyReply(in FuseInHeader h, in NotifyReplyArgs a) => Done;
        public object GetLock(in FuseInHeader h, in LockArgs a) => Done;
        public object SetLock(in FuseInHeader h, in LockArgs a) => Done;
        public object Malformed(in FuseInHeader h, string reason) => Done;
        public object Unsupported(in FuseInHeader h) => Done;
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
        RequestParser.Parse<Nothing, object>(ref f, buffer, length, Protocol, out _); // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < times; i++) RequestParser.Parse<Nothing, object>(ref f, buffer, length, Protocol, out _);
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
