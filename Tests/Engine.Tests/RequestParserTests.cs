using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests;

/// <summary>
/// <see cref="RequestParser"/> against byte-exact kernel requests. Each fixture is written field by field in
/// wire order (little-endian), as the kernel lays it out: a 40-byte fuse_in_header, the opcode's fixed struct,
/// then names / data, then extensions. Values are the ones a 6.18 kernel sends where docs/fuse-protocol.md
/// records them.
/// </summary>
public sealed class RequestParserTests
{
    private static readonly NegotiatedProtocol Default = new();
    private static readonly NegotiatedProtocol WithSetXAttrExt = new() { SetXAttrExt = true };

    // ---------------------------------------------------------------------------------------------
    // Fixture helpers

    /// <summary>Concatenates fields little-endian: uint → 4 bytes, ulong → 8, ushort → 2, string → its UTF-8 bytes
    /// (write NULs explicitly), byte[] → as is. Plain int is refused so a field's width is never guessed.</summary>
    private static byte[] Bytes(params object[] fields)
    {
        var ms = new MemoryStream();
        Span<byte> tmp = stackalloc byte[8];
        foreach (var f in fields)
        {
            switch (f)
            {
                case uint u: BinaryPrimitives.WriteUInt32LittleEndian(tmp, u); ms.Write(tmp[..4]); break;
                case ulong u: BinaryPrimitives.WriteUInt64LittleEndian(tmp, u); ms.Write(tmp[..8]); break;
                case ushort u: BinaryPrimitives.WriteUInt16LittleEndian(tmp, u); ms.Write(tmp[..2]); break;
                case string s: ms.Write(Encoding.UTF8.GetBytes(s)); break;
                case byte[] b: ms.Write(b); break;
                default: throw new ArgumentException($"field of type {f.GetType().Name}: use uint, ulong, ushort, string or byte[]");
            }
        }
        return ms.ToArray();
    }

    private static byte[] Zeros(int n) => new byte[n];

    /// <summary>What the parser handed to the factory: which method, the header, and the argument record (boxed;
    /// null for the header-only operations), or the reason of a malformed request.</summary>
    private sealed record Parsed(string Kind, FuseInHeader Header, object? Args, string? Reason)
    {
        public uint RawOpcode => Header.Opcode;
        public Opcode Opcode => (Opcode)Header.Opcode;
        public ulong Unique => Header.Unique;
    }

    /// <summary>A parsed request of one kind, with its header fields by name as the engine's requests have them.</summary>
    private sealed record Parsed<T>(FuseInHeader Header, T Args)
    {
        public Opcode Opcode => (Opcode)Header.Opcode;
        public ulong Unique => Header.Unique;
        public ulong NodeId => Header.NodeId;
        public uint Uid => Header.Uid;
        public uint Gid => Header.Gid;
        public uint Pid => Header.Pid;
    }

    /// <summary>Records each factory call, the way the engine's factory wraps it into a request.</summary>
    private struct Recorder : IRequestFactory<Parsed>
    {
        private static Parsed P(string kind, in FuseInHeader h, object? a = null) => new(kind, h, a, null);
        public Parsed Lookup(in FuseInHeader h, in LookupArgs a) => P("Lookup", h, a);
        public Parsed Forget(in FuseInHeader h, in ForgetArgs a) => P("Forget", h, a);
        public Parsed GetAttr(in FuseInHeader h, in GetAttrArgs a) => P("GetAttr", h, a);
        public Parsed SetAttr(in FuseInHeader h, in SetAttrArgs a) => P("SetAttr", h, a);
        public Parsed ReadLink(in FuseInHeader h) => P("ReadLink", h);
        public Parsed Symlink(in FuseInHeader h, in SymlinkArgs a) => P("Symlink", h, a);
        public Parsed MkNod(in FuseInHeader h, in MkNodArgs a) => P("MkNod", h, a);
        public Parsed MkDir(in FuseInHeader h, in MkDirArgs a) => P("MkDir", h, a);
        public Parsed Unlink(in FuseInHeader h, in UnlinkArgs a) => P("Unlink", h, a);
        public Parsed RmDir(in FuseInHeader h, in RmDirArgs a) => P("RmDir", h, a);
        public Parsed Rename(in FuseInHeader h, in RenameArgs a) => P("Rename", h, a);
        public Parsed Link(in FuseInHeader h, in LinkArgs a) => P("Link", h, a);
        public Parsed Open(in FuseInHeader h, in OpenArgs a) => P("Open", h, a);
        public Parsed Read(in FuseInHeader h, in ReadArgs a) => P("Read", h, a);
        public Parsed ReadDir(in FuseInHeader h, in ReadDirArgs a) => P("ReadDir", h, a);
        public Parsed Write(in FuseInHeader h, in WriteArgs a) => P("Write", h, a);
        public Parsed StatFs(in FuseInHeader h) => P("StatFs", h);
        public Parsed Release(in FuseInHeader h, in ReleaseArgs a) => P("Release", h, a);
        public Parsed Fsync(in FuseInHeader h, in FsyncArgs a) => P("Fsync", h, a);
        public Parsed SetXAttr(in FuseInHeader h, in SetXAttrArgs a) => P("SetXAttr", h, a);
        public Parsed GetXAttr(in FuseInHeader h, in GetXAttrArgs a) => P("GetXAttr", h, a);
        public Parsed ListXAttr(in FuseInHeader h, in ListXAttrArgs a) => P("ListXAttr", h, a);
        public Parsed RemoveXAttr(in FuseInHeader h, in RemoveXAttrArgs a) => P("RemoveXAttr", h, a);
        public Parsed Flush(in FuseInHeader h, in FlushArgs a) => P("Flush", h, a);
        public Parsed Init(in FuseInHeader h, in InitArgs a) => P("Init", h, a);
        public Parsed Access(in FuseInHeader h, in AccessArgs a) => P("Access", h, a);
        public Parsed Create(in FuseInHeader h, in CreateArgs a) => P("Create", h, a);
        public Parsed Interrupt(in FuseInHeader h, in InterruptArgs a) => P("Interrupt", h, a);
        public Parsed Destroy(in FuseInHeader h) => P("Destroy", h);
        public Parsed Fallocate(in FuseInHeader h, in FallocateArgs a) => P("Fallocate", h, a);
        public Parsed Lseek(in FuseInHeader h, in LseekArgs a) => P("Lseek", h, a);
        public Parsed CopyFileRange(in FuseInHeader h, in CopyFileRangeArgs a) => P("CopyFileRange", h, a);
        public Parsed NotifyReply(in FuseInHeader h, in NotifyReplyArgs a) => P("NotifyReply", h, a);
        public Parsed GetLock(in FuseInHeader h, in LockArgs a) => P("GetLock", h, a);
        public Parsed SetLock(in FuseInHeader h, in LockArgs a) => P("SetLock", h, a);
        public Parsed Malformed(in FuseInHeader h, string reason) => new("Malformed", h, null, reason);
        public Parsed Unsupported(in FuseInHeader h) => P("Unsupported", h);
    }

    private static Parsed Parse(byte[] buffer, int length, NegotiatedProtocol protocol, out bool tookBuffer)
    {
        var f = new Recorder();
        return RequestParser.Parse<Recorder, Parsed>(ref f, buffer, length, protocol, out tookBuffer);
    }

    /// <summary>Parses a fixture the way the reader does: from the start of a larger buffer whose tail is
    /// garbage, so nothing past <c>len</c> may be looked at.</summary>
    private static Parsed Decode(byte[] fixture, out bool tookBuffer, out byte[] buffer, NegotiatedProtocol? settings = null, bool checkLen = true)
    {
        if (checkLen) Assert.Equal((uint)fixture.Length, BinaryPrimitives.ReadUInt32LittleEndian(fixture));
        buffer = new byte[fixture.Length + 256];
        buffer.AsSpan().Fill(0xEE);
        fixture.CopyTo(buffer, 0);
        var r = Parse(buffer, fixture.Length, settings ?? Default, out tookBuffer);
        Assert.NotNull(r);
        return r;
    }

    private static Parsed Decode(byte[] fixture, NegotiatedProtocol? settings = null)
    {
        var r = Decode(fixture, out bool took, out _, settings);
        Assert.False(took, "only WRITE keeps the buffer");
        return r;
    }

    private static Parsed<T> As<T>(Parsed r)
    {
        if (r.Reason is { } reason) Assert.Fail($"malformed: {reason}");
        return new Parsed<T>(r.Header, Assert.IsType<T>(r.Args));
    }

    private static Parsed<T> DecodeAs<T>(byte[] fixture, NegotiatedProtocol? settings = null) => As<T>(Decode(fixture, settings));

    private static Parsed DecodeMalformed(byte[] fixture, int? readLength = null)
    {
        var buffer = new byte[fixture.Length + 256];
        buffer.AsSpan().Fill(0xEE);
        fixture.CopyTo(buffer, 0);
        var r = Parse(buffer, readLength ?? fixture.Length, Default, out bool took);
        Assert.False(took);
        Assert.Equal("Malformed", r.Kind);
        Assert.NotNull(r.Reason);
        return r;
    }

    private static bool Has(Parsed<SetAttrArgs> r, SetAttrValid field) => (r.Args.Valid & field) != 0;

    // ---------------------------------------------------------------------------------------------
    // LOOKUP "file": len 45 = 40 + 5, as a 6.18 kernel sent it.

    /// <summary>The raw bytes, written out like fuser's request fixtures.</summary>
    private static readonly byte[] LookupFileRaw =
    [
        0x2d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // len 45, opcode FUSE_LOOKUP (1)
        0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique 0x10
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid 1 (parent: the root)
        0xe8, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, // uid 1000, gid 1000
        0xe1, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // pid 4321, total_extlen 0, padding 0
        0x66, 0x69, 0x6c, 0x65, 0x00,                   // name "file\0"
    ];

    private static readonly byte[] LookupFile = Bytes(
        45u,                    // len: 40 + "file\0"
        1u,                     // opcode FUSE_LOOKUP
        0x10ul,                 // unique
        1ul,                    // nodeid: the parent directory (root)
        1000u, 1000u, 4321u,    // uid, gid, pid
        (ushort)0, (ushort)0,   // total_extlen, padding
        "file\0");              // name

    [Fact]
    public void Fixture_builder_writes_the_kernel_layout() => Assert.Equal(LookupFileRaw, LookupFile);

    [Fact]
    public void Lookup()
    {
        var r = DecodeAs<LookupArgs>(LookupFileRaw);
        Assert.Equal("file", r.Args.Name);
        Assert.Equal(Opcode.Lookup, r.Opcode);
        Assert.Equal(0x10ul, r.Unique);
        Assert.Equal(1ul, r.NodeId);
        Assert.Equal(1000u, r.Uid);
        Assert.Equal(1000u, r.Gid);
        Assert.Equal(4321u, r.Pid);
        Assert.Equal(45u, r.Header.Len);
    }

    [Fact]
    public void Lookup_with_exact_size_buffer()
    {
        var buffer = (byte[])LookupFileRaw.Clone();
        var r = As<LookupArgs>(Parse(buffer, buffer.Length, Default, out bool took));
        Assert.False(took);
        Assert.Equal("file", r.Args.Name);
    }

    [Fact]
    public void Lookup_utf8_name()
    {
        var r = DecodeAs<LookupArgs>(Bytes(
            48u,                    // len: 40 + "żółw" is 7 bytes + NUL
            1u,                     // opcode FUSE_LOOKUP
            0x12ul, 5ul,            // unique, nodeid (parent)
            1000u, 1000u, 77u,      // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "żółw\0"));             // name, UTF-8
        Assert.Equal("żółw", r.Args.Name);
    }

    [Fact]
    public void Lookup_name_that_is_not_UTF8_keeps_its_bytes()
    {
        // "caf\xe8" (Latin-1 è): decoded as UTF-8 it would be "caf\uFFFD", the same as "caf\xe9".
        var r = DecodeAs<LookupArgs>(Bytes(
            45u, 1u,                // len: 40 + 4 + NUL, opcode FUSE_LOOKUP
            0x12ul, 5ul,            // unique, nodeid (parent)
            1000u, 1000u, 77u,      // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            new byte[] { (byte)'c', (byte)'a', (byte)'f', 0xE8, 0 }));
        Assert.Equal(new byte[] { (byte)'c', (byte)'a', (byte)'f', 0xE8 }, r.Args.Name.Bytes.ToArray());
        Assert.False(r.Args.Name.IsValidUtf8);
        Assert.NotEqual(FileName.FromBytes([(byte)'c', (byte)'a', (byte)'f', 0xE9]), r.Args.Name);
    }

    [Fact]
    public void Lookup_name_with_a_slash_is_malformed()
    {
        DecodeMalformed(Bytes(
            44u, 1u,                // len: 40 + "a/b" + NUL, opcode FUSE_LOOKUP
            0x12ul, 5ul, 1000u, 1000u, 77u, (ushort)0, (ushort)0,
            "a/b\0"));
    }

    [Fact]
    public void Rename_and_symlink_keep_names_and_target_as_bytes()
    {
        var r = DecodeAs<RenameArgs>(Bytes(
            53u, 12u,               // len: 40 + 8 + "\xff\0" + "x\xfe\0", opcode FUSE_RENAME
            0x60ul, 5ul, 1000u, 1000u, 4321u, (ushort)0, (ushort)0,
            9ul,                    // newdir
            new byte[] { 0xFF, 0, (byte)'x', 0xFE, 0 }));
        Assert.Equal(new byte[] { 0xFF }, r.Args.Name.Bytes.ToArray());
        Assert.Equal(new byte[] { (byte)'x', 0xFE }, r.Args.NewName.Bytes.ToArray());

        var s = DecodeAs<SymlinkArgs>(Bytes(
            46u, 6u,                // len: 40 + "l\0" + "d/\xe9\0", opcode FUSE_SYMLINK
            0x50ul, 1ul, 1000u, 1000u, 4321u, (ushort)0, (ushort)0,
            new byte[] { (byte)'l', 0, (byte)'d', (byte)'/', 0xE9, 0 }));
        Assert.Equal("l", s.Args.Name);
        Assert.Equal(new byte[] { (byte)'d', (byte)'/', 0xE9 }, s.Args.Target);
    }

    // ---------------------------------------------------------------------------------------------
    // FORGET / BATCH_FORGET: never answered, nodeid 0 for the batch.

    [Fact]
    public void Forget()
    {
        var r = DecodeAs<ForgetArgs>(Bytes(
            48u,                    // len: 40 + fuse_forget_in
            2u,                     // opcode FUSE_FORGET
            0x20ul,                 // unique
            7ul,                    // nodeid: the node being forgotten
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            3ul));                  // fuse_forget_in.nlookup
        Assert.Equal(1, r.Args.Count);
        Assert.Equal(7ul, r.Args.Items[0].NodeId);
        Assert.Equal(3ul, r.Args.Items[0].NLookup);
        Assert.Equal((uint)Opcode.Forget, r.Header.Opcode);
    }

    [Fact]
    public void BatchForget_two_entries()
    {
        var r = DecodeAs<ForgetArgs>(Bytes(
            80u,                    // len: 40 + 8 + 2 × 16
            42u,                    // opcode FUSE_BATCH_FORGET
            0x22ul,                 // unique
            0ul,                    // nodeid 0
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            2u, 0u,                 // fuse_batch_forget_in: count 2, dummy
            7ul, 3ul,               // fuse_forget_one: nodeid 7, nlookup 3
            8ul, 1ul));             // fuse_forget_one: nodeid 8, nlookup 1
        Assert.Equal(2, r.Args.Count);
        Assert.Equal(new FuseForgetOne { NodeId = 7, NLookup = 3 }, r.Args.Items[0]);
        Assert.Equal(new FuseForgetOne { NodeId = 8, NLookup = 1 }, r.Args.Items[1]);
        Assert.Equal(Opcode.BatchForget, r.Opcode);
    }

    // ---------------------------------------------------------------------------------------------
    // GETATTR / SETATTR

    [Theory]
    [InlineData(1u, 0x99ul)]    // fstat: FUSE_GETATTR_FH, fh valid
    [InlineData(0u, null)]      // stat: no handle; fh is not looked at
    public void GetAttr(uint getattrFlags, ulong? expectedFh)
    {
        var r = DecodeAs<GetAttrArgs>(Bytes(
            56u,                    // len: 40 + fuse_getattr_in
            3u,                     // opcode FUSE_GETATTR
            0x30ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            getattrFlags,           // getattr_flags
            0u,                     // dummy
            0x99ul));               // fh
        Assert.Equal(expectedFh, r.Args.Fh);
        Assert.Equal(7ul, r.NodeId);
    }

    [Fact]
    public void SetAttr_ftruncate()
    {
        var r = DecodeAs<SetAttrArgs>(Bytes(
            128u,                   // len: 40 + fuse_setattr_in (88)
            4u,                     // opcode FUSE_SETATTR
            0x40ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x248u,                 // valid: FATTR_SIZE | FATTR_FH | FATTR_LOCKOWNER (what ftruncate sends)
            0u,                     // padding
            0x55ul,                 // fh
            4096ul,                 // size
            0x1122334455667788ul,   // lock_owner
            0ul, 0ul, 0ul,          // atime, mtime, ctime
            0u, 0u, 0u,             // atimensec, mtimensec, ctimensec
            0u,                     // mode
            0u,                     // unused4
            0u, 0u,                 // uid, gid
            0u));                   // unused5
        Assert.Equal(0x248u, (uint)r.Args.Valid);
        Assert.True(Has(r, SetAttrValid.Size));
        Assert.True(Has(r, SetAttrValid.LockOwner));
        Assert.False(Has(r, SetAttrValid.Mode) || Has(r, SetAttrValid.Uid) || Has(r, SetAttrValid.Gid) || Has(r, SetAttrValid.Atime) || Has(r, SetAttrValid.Mtime) || Has(r, SetAttrValid.Ctime));
        Assert.Equal(0x55ul, r.Args.Fh);
        Assert.Equal(4096ul, r.Args.Size);
    }

    [Fact]
    public void SetAttr_times_mode_owner()
    {
        var r = DecodeAs<SetAttrArgs>(Bytes(
            128u,                   // len
            4u,                     // opcode FUSE_SETATTR
            0x42ul, 9ul,            // unique, nodeid
            0u, 0u, 99u,            // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x437u,                 // valid: MODE | UID | GID | ATIME | MTIME | CTIME
            0u,                     // padding
            0x77ul,                 // fh (not valid: no FATTR_FH)
            0ul, 0ul,               // size, lock_owner
            1_700_000_000ul,        // atime
            1_700_000_001ul,        // mtime
            1_700_000_002ul,        // ctime
            111u, 222u, 333u,       // atimensec, mtimensec, ctimensec
            0x81a4u,                // mode: S_IFREG | 0644
            0u,                     // unused4
            1001u, 1002u,           // uid, gid
            0u));                   // unused5
        Assert.Null(r.Args.Fh);
        Assert.True(Has(r, SetAttrValid.Mode) && Has(r, SetAttrValid.Uid) && Has(r, SetAttrValid.Gid) && Has(r, SetAttrValid.Atime) && Has(r, SetAttrValid.Mtime) && Has(r, SetAttrValid.Ctime));
        Assert.False(Has(r, SetAttrValid.Size) || Has(r, SetAttrValid.AtimeNow) || Has(r, SetAttrValid.MtimeNow));
        Assert.Equal((1_700_000_000ul, 111u), (r.Args.Atime, r.Args.AtimeNsec));
        Assert.Equal((1_700_000_001ul, 222u), (r.Args.Mtime, r.Args.MtimeNsec));
        Assert.Equal((1_700_000_002ul, 333u), (r.Args.Ctime, r.Args.CtimeNsec));
        Assert.Equal(0x81a4u, (uint)r.Args.Mode);
        Assert.Equal(1001u, r.Args.Uid);
        Assert.Equal(1002u, r.Args.Gid);
    }

    // ---------------------------------------------------------------------------------------------
    // Name operations

    [Fact]
    public void Symlink_link_name_comes_first()
    {
        var r = DecodeAs<SymlinkArgs>(Bytes(
            58u,                    // len: 40 + "link\0" + "/target/path\0"
            6u,                     // opcode FUSE_SYMLINK
            0x50ul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "link\0",               // the new link's name
            "/target/path\0"));     // what it points to
        Assert.Equal("link", r.Args.Name);
        Assert.Equal("/target/path"u8.ToArray(), r.Args.Target);
    }

    [Fact]
    public void MkNod()
    {
        var r = DecodeAs<MkNodArgs>(Bytes(
            61u,                    // len: 40 + fuse_mknod_in (16) + "fifo\0"
            8u,                     // opcode FUSE_MKNOD
            0x52ul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x11a4u,                // mode: S_IFIFO | 0644 (type included)
            0u,                     // rdev
            0x12u,                  // umask 022
            0u,                     // padding
            "fifo\0"));             // name
        Assert.Equal("fifo", r.Args.Name);
        Assert.Equal(0x11a4u, (uint)r.Args.Mode);
        Assert.Equal(0u, r.Args.Rdev);
        Assert.Equal(0x12u, r.Args.Umask);
    }

    [Fact]
    public void MkNod_char_device_rdev()
    {
        var r = DecodeAs<MkNodArgs>(Bytes(
            59u,                    // len: 40 + 16 + "c1\0"
            8u,                     // opcode FUSE_MKNOD
            0x54ul, 1ul,            // unique, nodeid
            0u, 0u, 1u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x21b6u,                // mode: S_IFCHR | 0666
            0x0103u,                // rdev: new_encode_dev(1, 3)
            0u, 0u,                 // umask, padding
            "c1\0"));               // name
        Assert.Equal("c1", r.Args.Name);
        Assert.Equal(0x0103u, r.Args.Rdev);
    }

    [Fact]
    public void MkDir()
    {
        var r = DecodeAs<MkDirArgs>(Bytes(
            52u,                    // len: 40 + fuse_mkdir_in (8) + "dir\0"
            9u,                     // opcode FUSE_MKDIR
            0x56ul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1edu,                 // mode 0755 (no S_IFDIR)
            0x12u,                  // umask 022
            "dir\0"));              // name
        Assert.Equal("dir", r.Args.Name);
        Assert.Equal(0x1edu, (uint)r.Args.Mode);
        Assert.Equal(0x12u, r.Args.Umask);
    }

    [Fact]
    public void Unlink_and_RmDir()
    {
        var u = DecodeAs<UnlinkArgs>(Bytes(
            45u, 10u,               // len, opcode FUSE_UNLINK
            0x58ul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "gone\0"));             // name
        Assert.Equal("gone", u.Args.Name);
        var d = DecodeAs<RmDirArgs>(Bytes(
            44u, 11u,               // len, opcode FUSE_RMDIR
            0x5aul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "dir\0"));              // name
        Assert.Equal("dir", d.Args.Name);
    }

    [Fact]
    public void Rename()
    {
        var r = DecodeAs<RenameArgs>(Bytes(
            56u,                    // len: 40 + fuse_rename_in (8) + "old\0" + "new\0"
            12u,                    // opcode FUSE_RENAME
            0x60ul, 5ul,            // unique, nodeid (old parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            9ul,                    // newdir
            "old\0",                // old name
            "new\0"));              // new name
        Assert.Equal(Opcode.Rename, r.Opcode);
        Assert.Equal(5ul, r.NodeId);
        Assert.Equal(9ul, r.Args.NewDir);
        Assert.Equal("old", r.Args.Name);
        Assert.Equal("new", r.Args.NewName);
        Assert.Equal(0u, (uint)r.Args.Flags);
    }

    [Fact]
    public void Rename2_noreplace()
    {
        var r = DecodeAs<RenameArgs>(Bytes(
            68u,                    // len: 40 + fuse_rename2_in (16) + "a.txt\0" + "b.txt\0"
            45u,                    // opcode FUSE_RENAME2
            0x62ul, 5ul,            // unique, nodeid (old parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            9ul,                    // newdir
            1u,                     // flags: RENAME_NOREPLACE (what mv sends)
            0u,                     // padding
            "a.txt\0",              // old name
            "b.txt\0"));            // new name
        Assert.Equal(Opcode.Rename2, r.Opcode);
        Assert.Equal(9ul, r.Args.NewDir);
        Assert.Equal(1u, (uint)r.Args.Flags);
        Assert.True((r.Args.Flags & RenameFlags.NoReplace) != 0);
        Assert.False((r.Args.Flags & RenameFlags.Exchange) != 0);
        Assert.Equal("a.txt", r.Args.Name);
        Assert.Equal("b.txt", r.Args.NewName);
    }

    [Fact]
    public void Link()
    {
        var r = DecodeAs<LinkArgs>(Bytes(
            53u,                    // len: 40 + fuse_link_in (8) + "hard\0"
            13u,                    // opcode FUSE_LINK
            0x64ul, 1ul,            // unique, nodeid (new parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            7ul,                    // oldnodeid: the existing node
            "hard\0"));             // new name
        Assert.Equal(7ul, r.Args.OldNodeId);
        Assert.Equal("hard", r.Args.NewName);
        Assert.Equal(1ul, r.NodeId);
    }

    // ---------------------------------------------------------------------------------------------
    // Files

    [Theory]
    [InlineData(14u, 0x8202u, false)] // OPEN: O_RDWR | O_TRUNC | O_LARGEFILE (0o101002, with ATOMIC_O_TRUNC)
    [InlineData(27u, 0x18800u, true)] // OPENDIR: O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_LARGEFILE
    public void Open_and_OpenDir(uint opcode, uint flags, bool isDir)
    {
        var r = DecodeAs<OpenArgs>(Bytes(
            48u,                    // len: 40 + fuse_open_in
            opcode,                 // opcode FUSE_OPEN / FUSE_OPENDIR
            0x70ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            flags,                  // flags (open(2) O_*)
            1u));                   // open_flags: FUSE_OPEN_KILL_SUIDGID
        Assert.Equal(isDir, r.Args.IsDirectory);
        Assert.Equal((Opcode)opcode, r.Opcode);
        Assert.Equal(flags, (uint)r.Args.Flags);
        Assert.Equal(1u, (uint)r.Args.KernelOpenFlags);
    }

    [Fact]
    public void Read()
    {
        var r = DecodeAs<ReadArgs>(Bytes(
            80u,                    // len: 40 + fuse_read_in (40)
            15u,                    // opcode FUSE_READ
            0x72ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            131072ul,               // offset
            131072u,                // size: a 128 KiB readahead
            2u,                     // read_flags: FUSE_READ_LOCKOWNER
            0xabcul,                // lock_owner
            0x8002u,                // flags: O_RDWR | O_LARGEFILE
            0u));                   // padding
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(131072ul, r.Args.Offset);
        Assert.Equal(131072u, r.Args.Size);
        Assert.Equal(2u, (uint)r.Args.ReadFlags);
        Assert.Equal(0x8002u, (uint)r.Args.Flags);
    }

    [Fact]
    public void Write_payload_is_not_copied()
    {
        var fixture = Bytes(
            85u,                    // len: 40 + fuse_write_in (40) + 5 bytes of data
            16u,                    // opcode FUSE_WRITE
            0x74ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            10ul,                   // offset
            5u,                     // size
            2u,                     // write_flags: FUSE_WRITE_LOCKOWNER (O_DIRECT writes)
            0x5678ul,               // lock_owner
            0x8001u,                // flags: O_WRONLY | O_LARGEFILE
            0u,                     // padding
            "hello");               // data
        var r = As<WriteArgs>(Decode(fixture, out bool took, out var buffer));
        Assert.True(took, "WRITE keeps the read buffer");
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(10ul, r.Args.Offset);
        Assert.Equal(5u, r.Args.Size);
        Assert.Equal(2u, (uint)r.Args.WriteFlags);
        Assert.Equal(0x8001u, (uint)r.Args.Flags);
        Assert.Equal("hello"u8.ToArray(), r.Args.Data.ToArray());
        Assert.True(MemoryMarshal.TryGetArray(r.Args.Data, out var segment));
        Assert.Same(buffer, segment.Array);
        Assert.Equal(80, segment.Offset);
        // The engine's WriteRequest keeps segment.Array to return it to the pool (RequestFactoryTests).
        buffer[80] = (byte)'j';     // same memory: no copy was made
        Assert.Equal((byte)'j', r.Args.Data.Span[0]);
    }

    [Fact]
    public void Write_shorter_than_its_size_is_malformed_and_keeps_no_buffer()
    {
        var fixture = Bytes(
            83u,                    // len: 40 + 40 + only 3 bytes
            16u,                    // opcode FUSE_WRITE
            0x76ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            1ul, 0ul,               // fh, offset
            5u, 0u,                 // size 5 (more than follows), write_flags
            0ul, 0u, 0u,            // lock_owner, flags, padding
            "hel");                 // 3 bytes
        var m = DecodeMalformed(fixture);
        Assert.Equal(16u, m.RawOpcode);
        Assert.Equal(0x76ul, m.Unique);
    }

    [Fact]
    public void Create()
    {
        var r = DecodeAs<CreateArgs>(Bytes(
            64u,                    // len: 40 + fuse_create_in (16) + "new.txt\0"
            35u,                    // opcode FUSE_CREATE
            0x78ul, 1ul,            // unique, nodeid (parent)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x80c1u,                // flags 0o100301: O_WRONLY | O_CREAT | O_EXCL | O_LARGEFILE
            0x81a4u,                // mode 0o100644 (S_IFREG included)
            0x12u,                  // umask 022
            0u,                     // open_flags
            "new.txt\0"));          // name
        Assert.Equal("new.txt", r.Args.Name);
        Assert.Equal(0x80c1u, (uint)r.Args.Flags);
        Assert.Equal(0x81a4u, (uint)r.Args.Mode);
        Assert.Equal(0x12u, r.Args.Umask);
        Assert.Equal(0u, (uint)r.Args.KernelOpenFlags);
    }

    [Theory]
    [InlineData(18u, false)] // RELEASE
    [InlineData(29u, true)]  // RELEASEDIR
    public void Release(uint opcode, bool isDir)
    {
        var r = DecodeAs<ReleaseArgs>(Bytes(
            64u, opcode,            // len: 40 + fuse_release_in (24), opcode
            0x7aul, 7ul,            // unique, nodeid
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            0x8000u,                // flags
            1u,                     // release_flags: FUSE_RELEASE_FLUSH
            0ul));                  // lock_owner
        Assert.Equal(isDir, r.Args.IsDirectory);
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(1u, (uint)r.Args.ReleaseFlags);
    }

    [Fact]
    public void Fsync_datasync()
    {
        var r = DecodeAs<FsyncArgs>(Bytes(
            56u, 20u,               // len: 40 + fuse_fsync_in (16), opcode FUSE_FSYNC
            0x7cul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            1u,                     // fsync_flags: FUSE_FSYNC_FDATASYNC
            0u));                   // padding
        Assert.True(r.Args.DataSync);
        Assert.Equal(0x1234ul, r.Args.Fh);
    }

    [Fact]
    public void Flush()
    {
        var r = DecodeAs<FlushArgs>(Bytes(
            64u, 25u,               // len: 40 + fuse_flush_in (24), opcode FUSE_FLUSH
            0x7eul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            0u, 0u,                 // unused, padding
            0x5566ul));             // lock_owner
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(0x5566ul, r.Args.LockOwner);
    }

    // ---------------------------------------------------------------------------------------------
    // Extended attributes

    [Fact]
    public void SetXAttr_8_byte_form()
    {
        var r = DecodeAs<SetXAttrArgs>(Bytes(
            63u,                    // len: 40 + 8 + "user.test\0" + 5
            21u,                    // opcode FUSE_SETXATTR
            0x80ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            5u,                     // size of the value
            1u,                     // flags: XATTR_CREATE
            "user.test\0",          // name
            "value"), Default);     // value, no NUL
        Assert.Equal("user.test"u8.ToArray(), r.Args.Name);
        Assert.Equal("value"u8.ToArray(), r.Args.Value);
        Assert.Equal(1u, (uint)r.Args.Flags);
    }

    [Fact]
    public void SetXAttr_16_byte_form_with_SetXAttrExt()
    {
        byte[] value = [0x00, 0x01, 0x00, 0xff, 0x7f];   // binary: NULs inside the value are data
        var r = DecodeAs<SetXAttrArgs>(Bytes(
            71u,                    // len: 40 + 16 + "user.test\0" + 5
            21u,                    // opcode FUSE_SETXATTR
            0x82ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            5u,                     // size
            2u,                     // flags: XATTR_REPLACE
            1u,                     // setxattr_flags: FUSE_SETXATTR_ACL_KILL_SGID
            0u,                     // padding
            "user.test\0",          // name
            value), WithSetXAttrExt);
        Assert.Equal("user.test"u8.ToArray(), r.Args.Name);
        Assert.Equal(value, r.Args.Value);
        Assert.Equal(2u, (uint)r.Args.Flags);
    }

    [Fact]
    public void SetXAttr_value_shorter_than_size_is_malformed()
    {
        DecodeMalformed(Bytes(
            60u, 21u,               // len: 40 + 8 + "user.a\0" + 5, opcode FUSE_SETXATTR
            0x84ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            9u, 0u,                 // size 9 (only 5 follow), flags
            "user.a\0",             // name
            "value"));              // value
    }

    [Fact]
    public void GetXAttr_size_probe()
    {
        var r = DecodeAs<GetXAttrArgs>(Bytes(
            68u,                    // len: 40 + 8 + "security.capability\0"
            22u,                    // opcode FUSE_GETXATTR
            0x86ul, 7ul,            // unique, nodeid
            0u, 0u, 4321u,          // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0u,                     // size 0: asks for the length only
            0u,                     // padding
            "security.capability\0"));
        Assert.Equal("security.capability"u8.ToArray(), r.Args.Name);
        Assert.Equal(0u, r.Args.Size);
    }

    [Fact]
    public void ListXAttr()
    {
        var r = DecodeAs<ListXAttrArgs>(Bytes(
            48u,                    // len: 40 + fuse_getxattr_in
            23u,                    // opcode FUSE_LISTXATTR
            0x88ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            4096u,                  // size of the caller's buffer
            0u));                   // padding
        Assert.Equal(4096u, r.Args.Size);
    }

    [Fact]
    public void RemoveXAttr()
    {
        var r = DecodeAs<RemoveXAttrArgs>(Bytes(
            47u, 24u,               // len: 40 + "user.a\0", opcode FUSE_REMOVEXATTR
            0x8aul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "user.a\0"));           // name
        Assert.Equal("user.a"u8.ToArray(), r.Args.Name);
    }

    // ---------------------------------------------------------------------------------------------
    // INIT

    /// <summary>The INIT a 6.18 kernel sent: 7.45, max_readahead 128 KiB, flags 0x73fffffb, flags2 0x5fd.</summary>
    private static readonly byte[] Init745Raw =
    [
        0x68, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, // len 104, opcode FUSE_INIT (26)
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique 2 (the first request)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // uid 0, gid 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // pid 0, total_extlen 0, padding 0
        0x07, 0x00, 0x00, 0x00, 0x2d, 0x00, 0x00, 0x00, // major 7, minor 45
        0x00, 0x00, 0x02, 0x00, 0xfb, 0xff, 0xff, 0x73, // max_readahead 131072, flags 0x73fffffb (INIT_EXT set)
        0xfd, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // flags2 0x000005fd, unused[0]
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unused[1..2]
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unused[3..4]
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unused[5..6]
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unused[7..8]
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unused[9..10]
    ];

    [Fact]
    public void Init_7_45_merges_flags2_into_the_high_bits()
    {
        var r = DecodeAs<InitArgs>(Init745Raw);
        Assert.Equal(7u, r.Args.Major);
        Assert.Equal(45u, r.Args.Minor);
        Assert.Equal(131072u, r.Args.MaxReadahead);
        Assert.Equal((InitFlags)(0x0000_05fd_73ff_fffbUL), r.Args.Flags);
        Assert.True(r.Args.Flags.HasFlag(InitFlags.InitExt));
        Assert.True(r.Args.Flags.HasFlag(InitFlags.SetXAttrExt));
        Assert.True(r.Args.Flags.HasFlag(InitFlags.SecurityCtx));       // flags2 bit 0
        Assert.True(r.Args.Flags.HasFlag(InitFlags.RequestTimeout));    // flags2 bit 10
        Assert.False(r.Args.Flags.HasFlag(InitFlags.HasInodeDax));      // flags2 bit 1
        Assert.False(r.Args.Flags.HasFlag(InitFlags.OverIoUring));      // flags2 bit 9: not offered here
        Assert.Equal(2ul, r.Unique);
    }

    [Fact]
    public void Init_without_INIT_EXT_ignores_flags2()
    {
        var r = DecodeAs<InitArgs>(Bytes(
            104u, 26u,              // len 40 + 64, opcode FUSE_INIT
            2ul, 0ul,               // unique, nodeid
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            7u, 36u,                // major, minor
            65536u,                 // max_readahead
            0x33fffffbu,            // flags: bit 30 (INIT_EXT) clear
            0xffffffffu,            // flags2: must be ignored
            Zeros(44)));            // unused[11]
        Assert.Equal((InitFlags)0x33fffffbUL, r.Args.Flags);
    }

    [Fact]
    public void Init_short_pre_7_36_body()
    {
        var r = DecodeAs<InitArgs>(Bytes(
            56u, 26u,               // len 40 + 16: before 7.36 fuse_init_in had no flags2 / unused
            2ul, 0ul,               // unique, nodeid
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            7u, 31u,                // major, minor
            131072u,                // max_readahead
            0x7fffffbu));           // flags
        Assert.Equal(31u, r.Args.Minor);
        Assert.Equal((InitFlags)0x7fffffbUL, r.Args.Flags);
    }

    // ---------------------------------------------------------------------------------------------
    // Misc operations

    [Fact]
    public void Interrupt()
    {
        var r = DecodeAs<InterruptArgs>(Bytes(
            48u,                    // len: 40 + fuse_interrupt_in
            36u,                    // opcode FUSE_INTERRUPT
            0x91ul,                 // unique: the target's id | FUSE_INT_REQ_BIT
            0ul,                    // nodeid 0
            0u, 0u, 0u,             // uid, gid, pid 0
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x90ul));               // unique of the interrupted request
        Assert.Equal(0x90ul, r.Args.TargetUnique);
        Assert.Equal(0x91ul, r.Unique);
    }

    [Fact]
    public void Access()
    {
        var r = DecodeAs<AccessArgs>(Bytes(
            48u, 34u,               // len 40 + 8, opcode FUSE_ACCESS
            0x92ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            6u, 0u));               // mask R_OK | W_OK, padding
        Assert.Equal(6u, r.Args.Mask);
    }

    [Fact]
    public void Fallocate()
    {
        var r = DecodeAs<FallocateArgs>(Bytes(
            72u,                    // len: 40 + fuse_fallocate_in (32)
            43u,                    // opcode FUSE_FALLOCATE
            0x94ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            4096ul,                 // offset
            8192ul,                 // length
            1u,                     // mode: FALLOC_FL_KEEP_SIZE
            0u));                   // padding
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(4096ul, r.Args.Offset);
        Assert.Equal(8192ul, r.Args.Length);
        Assert.Equal(1u, (uint)r.Args.Mode);
    }

    [Fact]
    public void Lseek()
    {
        var r = DecodeAs<LseekArgs>(Bytes(
            64u,                    // len: 40 + fuse_lseek_in (24)
            46u,                    // opcode FUSE_LSEEK
            0x96ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x1234ul,               // fh
            0ul,                    // offset
            3u,                     // whence: SEEK_DATA
            0u));                   // padding
        Assert.Equal(0x1234ul, r.Args.Fh);
        Assert.Equal(0ul, r.Args.Offset);
        Assert.Equal(3u, r.Args.Whence);
    }

    [Theory]
    [InlineData(47u, false)] // COPY_FILE_RANGE
    [InlineData(53u, true)]  // COPY_FILE_RANGE_64
    public void CopyFileRange(uint opcode, bool is64)
    {
        var r = DecodeAs<CopyFileRangeArgs>(Bytes(
            96u,                    // len: 40 + fuse_copy_file_range_in (56)
            opcode,                 // opcode
            0x98ul, 7ul,            // unique, nodeid (the source)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x11ul,                 // fh_in
            100ul,                  // off_in
            8ul,                    // nodeid_out
            0x22ul,                 // fh_out
            200ul,                  // off_out
            0x1_0000_0000ul,        // len (above 4 GiB)
            0ul));                  // flags
        Assert.Equal(is64, r.Args.Is64);
        Assert.Equal((Opcode)opcode, r.Opcode);
        Assert.Equal(0x11ul, r.Args.FhIn);
        Assert.Equal(100ul, r.Args.OffsetIn);
        Assert.Equal(8ul, r.Args.NodeIdOut);
        Assert.Equal(0x22ul, r.Args.FhOut);
        Assert.Equal(200ul, r.Args.OffsetOut);
        Assert.Equal(0x1_0000_0000ul, r.Args.Length);
        Assert.Equal(0ul, r.Args.Flags);
    }

    [Theory]
    [InlineData(28u, false)] // READDIR
    [InlineData(44u, true)]  // READDIRPLUS
    public void ReadDir_and_ReadDirPlus(uint opcode, bool plus)
    {
        var r = DecodeAs<ReadDirArgs>(Bytes(
            80u,                    // len: 40 + fuse_read_in
            opcode,                 // opcode
            0x9aul, 1ul,            // unique, nodeid (the directory)
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x33ul,                 // fh (from OPENDIR)
            5ul,                    // offset: the cookie of the last entry returned
            4096u,                  // size
            0u,                     // read_flags
            0ul,                    // lock_owner
            0x18800u,               // flags
            0u));                   // padding
        Assert.Equal(plus, r.Args.IsPlus);
        Assert.Equal((Opcode)opcode, r.Opcode);
        Assert.Equal(0x33ul, r.Args.Fh);
        Assert.Equal(5ul, r.Args.Offset);
        Assert.Equal(4096u, r.Args.Size);
    }

    [Theory]
    [InlineData(31u, "GetLock", false)]
    [InlineData(32u, "SetLock", false)]
    [InlineData(33u, "SetLock", true)]
    public void Lock_requests_read_fuse_lk_in(uint opcode, string kind, bool wait)
    {
        var r = Decode(Bytes(
            88u, opcode,            // len: 40 + fuse_lk_in (48)
            0xa1ul, 7ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0x55ul,                 // fh
            0xdeadbeefcafeul,       // owner
            100ul,                  // lk.start
            0x7ffffffffffffffful,   // lk.end: OFFSET_MAX (to the end of the file)
            1u,                     // lk.type: F_WRLCK
            4321u,                  // lk.pid
            1u,                     // lk_flags: FUSE_LK_FLOCK
            0u));                   // padding
        Assert.Equal(kind, r.Kind);
        var a = Assert.IsType<LockArgs>(r.Args);
        Assert.Equal((Opcode)opcode, r.Opcode);
        Assert.Equal(0x55ul, a.Fh);
        Assert.Equal(0xdeadbeefcafeul, a.Owner);
        Assert.Equal((100ul, FuseConstants.OffsetMax, 1u, 4321u), (a.Lock.Start, a.Lock.End, a.Lock.Type, a.Lock.Pid));
        Assert.True(a.IsFlock);
        Assert.Equal(wait, a.Wait);
    }

    [Fact]
    public void A_short_fuse_lk_in_is_malformed()
    {
        var r = DecodeMalformed(Bytes(
            80u, 32u,               // len: 40 + 40 bytes of a 48-byte fuse_lk_in
            0xa2ul, 7ul,
            1000u, 1000u, 4321u,
            (ushort)0, (ushort)0,
            Zeros(40)));
        Assert.Equal(Opcode.SetLk, r.Opcode);
    }

    [Theory]
    [InlineData(5u, "ReadLink")]
    [InlineData(17u, "StatFs")]
    [InlineData(38u, "Destroy")]
    public void Header_only_requests(uint opcode, string expected)
    {
        var r = Decode(Bytes(
            40u, opcode,            // len: header only
            0x9cul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0)); // total_extlen, padding
        Assert.Equal(expected, r.Kind);
        Assert.Null(r.Args);
        Assert.Equal((Opcode)opcode, r.Opcode);
    }

    [Fact]
    public void Unknown_opcode_is_unsupported()
    {
        var r = Decode(Bytes(
            48u,                    // len
            9999u,                  // opcode: not a FUSE opcode
            0x9eul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0ul));                  // some body
        Assert.Equal("Unsupported", r.Kind);
        Assert.Null(r.Args);
        Assert.Equal(9999u, r.RawOpcode);
        Assert.Equal(0x9eul, r.Unique);
    }

    // ---------------------------------------------------------------------------------------------
    // Request extensions (total_extlen != 0): the last total_extlen × 8 bytes, located from the end.

    [Fact]
    public void MkNod_with_empty_security_context_extension()
    {
        // As seen on 6.18 with SECURITY_CTX and no LSM: the extension begins at body offset 19, unaligned.
        var r = DecodeAs<MkNodArgs>(Bytes(
            67u,                    // len: 40 + 16 + "c1\0" + 8
            8u,                     // opcode FUSE_MKNOD
            0xa0ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)1,              // total_extlen: 1 × 8 bytes
            (ushort)0,              // padding
            0x81a4u, 0u, 0x12u, 0u, // fuse_mknod_in: mode S_IFREG|0644, rdev, umask, padding
            "c1\0",                 // name
            8u,                     // fuse_secctx_header.size (whole extension)
            0u));                   // fuse_secctx_header.nr_secctx = 0 (the extension type)
        Assert.Equal("c1", r.Args.Name);
        Assert.Equal(0x81a4u, (uint)r.Args.Mode);
    }

    [Fact]
    public void Create_with_one_security_context()
    {
        var r = DecodeAs<CreateArgs>(Bytes(
            104u,                   // len: 40 + 16 + "new.txt\0" (8) + 40
            35u,                    // opcode FUSE_CREATE
            0xa2ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)5,              // total_extlen: 40 bytes
            (ushort)0,              // padding
            0x80c1u, 0x81a4u,       // fuse_create_in: flags, mode
            0x12u, 0u,              // umask, open_flags
            "new.txt\0",            // name
            40u, 1u,                // fuse_secctx_header: size 40, nr_secctx 1
            4u, 0u,                 // fuse_secctx: size of the value, padding
            "security.selinux\0",   // context name (17 bytes)
            "ctx\0",                // value (4 bytes)
            Zeros(3)));             // padding to 8
        Assert.Equal("new.txt", r.Args.Name);
        Assert.Equal(0x81a4u, (uint)r.Args.Mode);
    }

    [Fact]
    public void MkDir_with_security_context_and_supplementary_groups()
    {
        var r = DecodeAs<MkDirArgs>(Bytes(
            74u,                    // len: 40 + 8 + "d\0" + 24
            9u,                     // opcode FUSE_MKDIR
            0xa4ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)3,              // total_extlen: 24 bytes
            (ushort)0,              // padding
            0x1edu, 0x12u,          // fuse_mkdir_in: mode 0755, umask 022
            "d\0",                  // name
            8u, 0u,                 // fuse_secctx_header: size 8, nr_secctx 0
            16u, 32u,               // fuse_ext_header: size 16, type FUSE_EXT_GROUPS
            1u, 100u));             // fuse_supp_groups: nr_groups 1, groups[0] = 100
        Assert.Equal("d", r.Args.Name);
        Assert.Equal(0x1edu, (uint)r.Args.Mode);
    }

    [Fact]
    public void Symlink_with_extension()
    {
        var r = DecodeAs<SymlinkArgs>(Bytes(
            55u,                    // len: 40 + "l\0" + "/tgt\0" + 8
            6u,                     // opcode FUSE_SYMLINK
            0xa6ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)1, (ushort)0,   // total_extlen 1, padding
            "l\0",                  // link name
            "/tgt\0",               // target
            8u, 0u));               // fuse_secctx_header: size 8, nr_secctx 0
        Assert.Equal("l", r.Args.Name);
        Assert.Equal("/tgt"u8.ToArray(), r.Args.Target);
    }

    [Fact]
    public void Name_must_end_before_the_extensions()
    {
        // The name's NUL is missing; the only zero bytes are inside the extension, which is not body.
        var m = DecodeMalformed(Bytes(
            58u,                    // len: 40 + "ab" + 16
            1u,                     // opcode FUSE_LOOKUP
            0xa8ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)2, (ushort)0,   // total_extlen 2, padding
            "ab",                   // name without NUL
            16u, 32u, 0u, 0u));     // an extension full of zeros
        Assert.Equal(1u, m.RawOpcode);
    }

    [Fact]
    public void Extensions_longer_than_the_request_are_malformed()
    {
        DecodeMalformed(Bytes(
            45u, 1u,                // len, opcode FUSE_LOOKUP
            0xaaul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)2, (ushort)0,   // total_extlen 2 = 16 bytes, but only 5 bytes follow the header
            "file\0"));
    }

    // ---------------------------------------------------------------------------------------------
    // Malformed input: a MalformedRequest, never an exception.

    [Fact]
    public void Lookup_name_without_NUL()
    {
        var m = DecodeMalformed(Bytes(
            44u, 1u,                // len: 40 + "file" (no NUL), opcode FUSE_LOOKUP
            0xb0ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "file"));
        Assert.Equal(1u, m.RawOpcode);
        Assert.Equal(0xb0ul, m.Unique);
        Assert.False(string.IsNullOrEmpty(m.Reason));
    }

    [Fact]
    public void Lookup_empty_name()
    {
        DecodeMalformed(Bytes(
            41u, 1u,                // len: 40 + "\0", opcode FUSE_LOOKUP
            0xb2ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            "\0"));
    }

    [Fact]
    public void Shorter_than_a_header()
    {
        var m = DecodeMalformed(Bytes(20u, 1u, 0xb4ul, 1ul)[..20]);
        Assert.Contains("shorter", m.Reason);
    }

    [Theory]
    [InlineData(50)]   // the read returned more than len says
    [InlineData(44)]   // the read returned less
    public void Header_len_disagrees_with_the_read_length(int readLength)
    {
        var m = DecodeMalformed(LookupFile, readLength);
        Assert.Equal(45u, m.Header.Len);
        Assert.Equal(1u, m.RawOpcode);
        Assert.Equal(0x10ul, m.Unique);
    }

    /// <summary>Fixed structs cut short: (opcode, body bytes that are present).</summary>
    public static IEnumerable<object[]> TruncatedBodies() => new (uint Opcode, int Body)[]
    {
        (2, 4),    // FORGET: fuse_forget_in is 8
        (3, 8),    // GETATTR: 16
        (4, 80),   // SETATTR: 88
        (8, 12),   // MKNOD: 16
        (9, 4),    // MKDIR: 8
        (12, 4),   // RENAME: 8
        (13, 4),   // LINK: 8
        (14, 4),   // OPEN: 8
        (15, 32),  // READ: 40
        (16, 32),  // WRITE: 40
        (18, 16),  // RELEASE: 24
        (20, 8),   // FSYNC: 16
        (21, 4),   // SETXATTR: 8
        (22, 4),   // GETXATTR: 8
        (23, 4),   // LISTXATTR: 8
        (25, 16),  // FLUSH: 24
        (26, 8),   // INIT: at least 16
        (28, 32),  // READDIR: 40
        (34, 4),   // ACCESS: 8
        (35, 12),  // CREATE: 16
        (36, 4),   // INTERRUPT: 8
        (41, 32),  // NOTIFY_REPLY: 40
        (42, 4),   // BATCH_FORGET: 8
        (43, 24),  // FALLOCATE: 32
        (44, 32),  // READDIRPLUS: 40
        (45, 8),   // RENAME2: 16
        (46, 16),  // LSEEK: 24
        (47, 48),  // COPY_FILE_RANGE: 56
        (53, 48),  // COPY_FILE_RANGE_64: 56
    }.Select(t => new object[] { t.Opcode, t.Body });

    [Theory]
    [MemberData(nameof(TruncatedBodies))]
    public void Truncated_fixed_struct(uint opcode, int bodyLength)
    {
        var body = new byte[bodyLength];
        body.AsSpan().Fill(0x41);   // no NULs, so no name can be found either
        var m = DecodeMalformed(Bytes(
            (uint)(40 + bodyLength), opcode, // len, opcode
            0xc0ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            body));
        Assert.Equal(opcode, m.RawOpcode);
        Assert.Equal(0xc0ul, m.Unique);
    }

    [Fact]
    public void BatchForget_count_larger_than_the_entries()
    {
        DecodeMalformed(Bytes(
            80u, 42u,               // len: room for 2 entries, opcode FUSE_BATCH_FORGET
            0xc2ul, 0ul,            // unique, nodeid
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            3u, 0u,                 // count 3, dummy
            7ul, 3ul, 8ul, 1ul));   // only 2 entries
    }

    [Fact]
    public void BatchForget_huge_count()
    {
        DecodeMalformed(Bytes(
            64u, 42u,               // len, opcode FUSE_BATCH_FORGET
            0xc4ul, 0ul,            // unique, nodeid
            0u, 0u, 0u,             // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            0xffffffffu, 0u,        // count 2^32-1, dummy
            7ul, 3ul));             // one entry
    }

    [Theory]
    [InlineData(6u, "link\0")]          // SYMLINK without target
    [InlineData(6u, "link\0/tgt")]      // SYMLINK target without NUL
    public void Symlink_missing_second_name(uint opcode, string names)
    {
        DecodeMalformed(Bytes(
            (uint)(40 + Encoding.UTF8.GetByteCount(names)), opcode,
            0xc6ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            names));
    }

    [Fact]
    public void Rename_missing_new_name_NUL()
    {
        DecodeMalformed(Bytes(
            55u, 12u,               // len: 40 + 8 + "old\0" + "new", opcode FUSE_RENAME
            0xc8ul, 1ul,            // unique, nodeid
            1000u, 1000u, 4321u,    // uid, gid, pid
            (ushort)0, (ushort)0,   // total_extlen, padding
            9ul,                    // newdir
            "old\0new"));
    }

    /// <summary>Every opcode, every short body length, random bytes and random extension lengths:
    /// Decode returns a request (often MalformedRequest) and never throws.</summary>
    [Fact]
    public void Garbage_never_throws()
    {
        var rng = new Random(12345);
        uint[] opcodes = [.. Enumerable.Range(0, 60).Select(i => (uint)i), 4096, 9999, 0x1a000000, uint.MaxValue];
        var buffer = new byte[40 + 160 + 64];
        int decoded = 0;
        foreach (uint opcode in opcodes)
        {
            for (int body = 0; body <= 160; body++)
            {
                for (int variant = 0; variant < 3; variant++)
                {
                    int length = 40 + body;
                    rng.NextBytes(buffer);
                    if (variant == 1) buffer.AsSpan(40, body).Clear();                      // all zero
                    if (variant == 2) buffer.AsSpan(40, body).Fill(0xff);                   // all 0xff
                    BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)length);
                    BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), opcode);
                    BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(36), (ushort)rng.Next(0, 4));
                    var r = Parse(buffer, length, (variant & 1) == 0 ? Default : WithSetXAttrExt, out bool took);
                    Assert.NotNull(r);
                    Assert.Equal(r.Kind == "Write", took);
                    decoded++;
                }
            }
        }
        Assert.True(decoded > 10_000);
    }
}
