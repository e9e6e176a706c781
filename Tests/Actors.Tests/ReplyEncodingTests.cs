using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// The exact reply payloads (the bytes after fuse_out_header) that <see cref="FsRequest.EncodeReply"/> produces,
/// and the replies <see cref="FsRequest.ValidateReply"/> refuses. Expected bytes are written by offset from
/// linux/fuse.h (docs/fuse-protocol.md §2.1), not through the C# structs. Requests are built without an actor:
/// ReplyTo stays null, so Reply(...) only stores the reply.
/// </summary>
public sealed class ReplyEncodingTests
{
    private static readonly NegotiatedProtocol Settings = new()
    {
        EntryTimeout = TimeSpan.FromSeconds(1),
        AttrTimeout = TimeSpan.FromMilliseconds(2250),
    };

    // ---------------------------------------------------------------------------------------------
    // Helpers

    /// <summary>Encodes into a scratch buffer full of 0xAA, so any byte the encoder forgot shows up.</summary>
    private static byte[] Encode(FsRequest r, NegotiatedProtocol? s = null)
    {
        var scratch = new byte[4096];
        scratch.AsSpan().Fill(0xAA);
        return r.EncodeReply(scratch, s ?? Settings).ToArray();
    }

    private static void U64(byte[] b, int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(off), v);
    private static void U32(byte[] b, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(off), v);
    private static void I32(byte[] b, int off, int v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(off), v);
    private static void U16(byte[] b, int off, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(off), v);

    private static FuseAttr SampleAttr(ulong ino = 5, uint mode = 0x81a4) => new()
    {
        Ino = ino,
        Size = 0x0102030405060708,
        Blocks = 9,
        Atime = 1_700_000_000,
        Mtime = 1_700_000_100,
        Ctime = 1_700_000_200,
        AtimeNsec = 1,
        MtimeNsec = 2,
        CtimeNsec = 999_999_999,
        Mode = mode,
        Nlink = 3,
        Uid = 1000,
        Gid = 1001,
        Rdev = 0x0103,
        BlkSize = 4096,
        Flags = 0,
    };

    /// <summary>fuse_attr (88 bytes) at <paramref name="at"/>, by the header's offsets.</summary>
    private static void ExpectAttr(byte[] b, int at, in FuseAttr a)
    {
        U64(b, at + 0, a.Ino);
        U64(b, at + 8, a.Size);
        U64(b, at + 16, a.Blocks);
        U64(b, at + 24, a.Atime);
        U64(b, at + 32, a.Mtime);
        U64(b, at + 40, a.Ctime);
        U32(b, at + 48, a.AtimeNsec);
        U32(b, at + 52, a.MtimeNsec);
        U32(b, at + 56, a.CtimeNsec);
        U32(b, at + 60, a.Mode);
        U32(b, at + 64, a.Nlink);
        U32(b, at + 68, a.Uid);
        U32(b, at + 72, a.Gid);
        U32(b, at + 76, a.Rdev);
        U32(b, at + 80, a.BlkSize);
        U32(b, at + 84, a.Flags);
    }

    /// <summary>fuse_entry_out (128 bytes) at <paramref name="at"/>.</summary>
    private static void ExpectEntry(byte[] b, int at, ulong nodeId, ulong generation, ulong entrySec, uint entryNsec,
        ulong attrSec, uint attrNsec, in FuseAttr a)
    {
        U64(b, at + 0, nodeId);
        U64(b, at + 8, generation);
        U64(b, at + 16, entrySec);
        U64(b, at + 24, attrSec);
        U32(b, at + 32, entryNsec);
        U32(b, at + 36, attrNsec);
        ExpectAttr(b, at + 40, a);
    }

    private static Entry SampleEntry(ulong nodeId = 2) => new()
    {
        NodeId = nodeId,
        Generation = 7,
        Attr = SampleAttr(),
        EntryTimeout = TimeSpan.FromMilliseconds(1500),  // 1 s + 500 000 000 ns
        AttrTimeout = null,                              // the mount default: 2.25 s
    };

    // ---------------------------------------------------------------------------------------------
    // Entries

    [Fact]
    public void Entry_is_128_bytes_with_timeouts_split()
    {
        var r = new LookupRequest { Name = "file" };
        Assert.True(r.Reply(SampleEntry()));
        var expected = new byte[128];
        ExpectEntry(expected, 0, nodeId: 2, generation: 7, entrySec: 1, entryNsec: 500_000_000,
            attrSec: 2, attrNsec: 250_000_000, SampleAttr());
        Assert.Equal(expected, Encode(r));
        Assert.Null(r.ValidateReply());
    }

    [Theory]
    [InlineData(0L, 0ul, 0u)]                               // zero: no caching
    [InlineData(-10_000_000L, 0ul, 0u)]                     // negative: treated as zero
    [InlineData(1L, 0ul, 100u)]                             // one tick = 100 ns
    [InlineData(10_000_000L, 1ul, 0u)]                      // 1 s
    [InlineData(36_000_000_001L, 3600ul, 100u)]             // 1 h and a tick
    public void Timeout_split_into_seconds_and_nanoseconds(long ticks, ulong sec, uint nsec)
    {
        var r = new MkDirRequest();
        var e = SampleEntry();
        e.EntryTimeout = TimeSpan.FromTicks(ticks);
        e.AttrTimeout = TimeSpan.FromTicks(ticks);
        r.Reply(e);
        var b = Encode(r);
        Assert.Equal(sec, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)));  // entry_valid
        Assert.Equal(sec, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24)));  // attr_valid
        Assert.Equal(nsec, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(32))); // entry_valid_nsec
        Assert.Equal(nsec, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(36))); // attr_valid_nsec
    }

    [Fact]
    public void Entry_uses_mount_defaults_when_no_timeouts_given()
    {
        var r = new SymlinkRequest();
        var e = SampleEntry();
        e.EntryTimeout = null;
        r.Reply(e);
        var expected = new byte[128];
        ExpectEntry(expected, 0, 2, 7, entrySec: 1, entryNsec: 0, attrSec: 2, attrNsec: 250_000_000, SampleAttr());
        Assert.Equal(expected, Encode(r));
    }

    [Fact]
    public void Negative_lookup_is_node_0_with_an_entry_timeout()
    {
        var r = new LookupRequest { Name = "missing" };
        Assert.True(r.ReplyNegative(TimeSpan.FromSeconds(5)));
        var expected = new byte[128];
        U64(expected, 16, 5);   // entry_valid 5 s; everything else zero
        Assert.Equal(expected, Encode(r));
        Assert.Null(r.ValidateReply());
        Assert.Equal(Errno.Ok, r.Error);
    }

    [Fact]
    public void Negative_lookup_without_ttl_is_ENOENT()
    {
        var r = new LookupRequest { Name = "missing" };
        Assert.True(r.ReplyNegative(TimeSpan.Zero));
        Assert.Equal(Errno.ENOENT, r.Error);
    }

    [Fact]
    public void Create_is_entry_then_open_144_bytes()
    {
        var r = new CreateRequest { Name = "new.txt" };
        Assert.True(r.Reply(SampleEntry(nodeId: 9), fh: 0x1122334455667788, flags: FopenFlags.KeepCache, backingId: 3));
        var expected = new byte[144];
        ExpectEntry(expected, 0, 9, 7, 1, 500_000_000, 2, 250_000_000, SampleAttr());
        U64(expected, 128, 0x1122334455667788);     // fuse_open_out.fh
        U32(expected, 136, 2);                      // open_flags: FOPEN_KEEP_CACHE
        I32(expected, 140, 3);                      // backing_id
        Assert.Equal(expected, Encode(r));
        Assert.Null(r.ValidateReply());
    }

    // ---------------------------------------------------------------------------------------------
    // Attributes, open, write, statfs

    [Fact]
    public void Attr_is_104_bytes()
    {
        var r = new GetAttrRequest();
        Assert.True(r.Reply(SampleAttr(), TimeSpan.FromMilliseconds(30_001)));
        var expected = new byte[104];
        U64(expected, 0, 30);               // attr_valid
        U32(expected, 8, 1_000_000);        // attr_valid_nsec
        U32(expected, 12, 0);               // dummy
        ExpectAttr(expected, 16, SampleAttr());
        Assert.Equal(expected, Encode(r));
        Assert.Null(r.ValidateReply());
    }

    [Fact]
    public void SetAttr_reply_uses_the_default_attr_timeout()
    {
        var r = new SetAttrRequest();
        r.Reply(SampleAttr(mode: 0x41ed));
        var expected = new byte[104];
        U64(expected, 0, 2);
        U32(expected, 8, 250_000_000);
        ExpectAttr(expected, 16, SampleAttr(mode: 0x41ed));
        Assert.Equal(expected, Encode(r));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(42)]
    public void Open_is_16_bytes(int backingId)
    {
        var r = new OpenRequest();
        Assert.True(r.Reply(0x8877665544332211, FopenFlags.DirectIo | FopenFlags.NonSeekable, backingId));
        var expected = new byte[16];
        U64(expected, 0, 0x8877665544332211);   // fh
        U32(expected, 8, 5);                    // open_flags: DIRECT_IO | NONSEEKABLE
        I32(expected, 12, backingId);           // backing_id (padding before 7.40)
        Assert.Equal(expected, Encode(r));
    }

    [Fact]
    public void Write_is_8_bytes()
    {
        var r = new WriteRequest { Data = new byte[10] };
        Assert.True(r.Reply(7));
        Assert.Equal(new byte[] { 7, 0, 0, 0, 0, 0, 0, 0 }, Encode(r));
        Assert.Null(r.ValidateReply());
    }

    [Fact]
    public void StatFs_is_80_bytes()
    {
        var r = new StatFsRequest();
        Assert.True(r.Reply(new StatFs
        {
            Blocks = 1_000_000, BlocksFree = 500_000, BlocksAvailable = 400_000, Files = 100_000, FilesFree = 50_000,
            BlockSize = 4096, NameLength = 255, FragmentSize = 512,
        }));
        var expected = new byte[80];
        U64(expected, 0, 1_000_000);    // blocks
        U64(expected, 8, 500_000);      // bfree
        U64(expected, 16, 400_000);     // bavail
        U64(expected, 24, 100_000);     // files
        U64(expected, 32, 50_000);      // ffree
        U32(expected, 40, 4096);        // bsize
        U32(expected, 44, 255);         // namelen
        U32(expected, 48, 512);         // frsize
        // padding @52 and spare[6] @56..79 stay zero
        Assert.Equal(expected, Encode(r));
    }

    [Fact]
    public void Init_out_is_64_bytes()
    {
        var r = new InitRequest();
        var o = new FuseInitOut
        {
            Major = 7, Minor = 45, MaxReadahead = 131072, Flags = 0x4000_1001, MaxBackground = 64,
            CongestionThreshold = 48, MaxWrite = 1 << 20, TimeGran = 1, MaxPages = 256, MapAlignment = 0,
            Flags2 = 0x400, MaxStackDepth = 2, RequestTimeout = 90,
        };
        Assert.True(r.Reply(o));
        var expected = new byte[64];
        U32(expected, 0, 7);            // major
        U32(expected, 4, 45);           // minor
        U32(expected, 8, 131072);       // max_readahead
        U32(expected, 12, 0x4000_1001); // flags
        U16(expected, 16, 64);          // max_background
        U16(expected, 18, 48);          // congestion_threshold
        U32(expected, 20, 1 << 20);     // max_write
        U32(expected, 24, 1);           // time_gran
        U16(expected, 28, 256);         // max_pages
        U16(expected, 30, 0);           // map_alignment
        U32(expected, 32, 0x400);       // flags2
        U32(expected, 36, 2);           // max_stack_depth
        U16(expected, 40, 90);          // request_timeout
        // unused[11] @42..63 zero
        Assert.Equal(expected, Encode(r));
    }

    [Fact]
    public void ReadLink_is_the_target_without_NUL()
    {
        var r = new ReadLinkRequest();
        r.Reply("../t/ż");
        Assert.Equal(Encoding.UTF8.GetBytes("../t/ż"), Encode(r));
        Assert.Null(r.ValidateReply());
    }

    [Fact]
    public void Read_returns_the_data_itself()
    {
        var r = new ReadRequest { Size = 10 };
        byte[] data = [1, 2, 3, 4, 5];
        Assert.True(r.Reply(data));
        Assert.Equal(data, Encode(r));
        Assert.Null(r.ValidateReply());
    }

    [Fact]
    public void Read_pooled_reply_returns_the_first_length_bytes()
    {
        var r = new ReadRequest { Size = 4096 };
        var rented = ArrayPool<byte>.Shared.Rent(4096);
        rented.AsSpan().Fill(0x5a);
        Assert.True(r.ReplyPooled(rented, 100));
        var b = Encode(r);
        Assert.Equal(100, b.Length);
        Assert.All(b, x => Assert.Equal(0x5a, x));
        r.ReleaseBuffers();
    }

    // ---------------------------------------------------------------------------------------------
    // Extended attributes

    [Fact]
    public void GetXAttr_size_probe_is_8_bytes_with_the_length()
    {
        var r = new GetXAttrRequest { Name = "user.a"u8.ToArray(), Size = 0 };
        Assert.True(r.Reply("value"u8.ToArray()));
        Assert.Equal(new byte[] { 5, 0, 0, 0, 0, 0, 0, 0 }, Encode(r));   // fuse_getxattr_out { size 5, padding }
        Assert.Equal(Errno.Ok, r.Error);
    }

    [Theory]
    [InlineData(100u)]
    [InlineData(5u)]     // exactly fits
    public void GetXAttr_value(uint size)
    {
        var r = new GetXAttrRequest { Name = "user.a"u8.ToArray(), Size = size };
        byte[] value = [0x76, 0x00, 0x6c, 0x75, 0x65];
        Assert.True(r.Reply(value));
        Assert.Equal(value, Encode(r));
        Assert.Equal(Errno.Ok, r.Error);
    }

    [Fact]
    public void GetXAttr_value_too_big_is_ERANGE()
    {
        var r = new GetXAttrRequest { Name = "user.a"u8.ToArray(), Size = 4 };
        r.Reply("value"u8.ToArray());
        Assert.True(r.IsReplied);
        Assert.Equal(Errno.ERANGE, r.Error);
    }

    [Fact]
    public void ListXAttr_names_are_NUL_separated()
    {
        var r = new ListXAttrRequest { Size = 100 };
        Assert.True(r.Reply(["user.a", "security.selinux"]));
        Assert.Equal("user.a\0security.selinux\0"u8.ToArray(), Encode(r));
    }

    [Fact]
    public void ListXAttr_size_probe()
    {
        var r = new ListXAttrRequest { Size = 0 };
        r.Reply(["user.a", "security.selinux"]);
        Assert.Equal(new byte[] { 24, 0, 0, 0, 0, 0, 0, 0 }, Encode(r));
    }

    [Fact]
    public void ListXAttr_empty()
    {
        var probe = new ListXAttrRequest { Size = 0 };
        probe.Reply(Array.Empty<string>());
        Assert.Equal(new byte[8], Encode(probe));
        var list = new ListXAttrRequest { Size = 100 };
        list.Reply(Array.Empty<string>());
        Assert.Empty(Encode(list));
    }

    [Fact]
    public void ListXAttr_too_big_is_ERANGE()
    {
        var r = new ListXAttrRequest { Size = 10 };
        r.Reply(["user.a", "user.b"]);    // 14 bytes
        Assert.Equal(Errno.ERANGE, r.Error);
    }

    // ---------------------------------------------------------------------------------------------
    // LSEEK, COPY_FILE_RANGE

    [Fact]
    public void Lseek_is_8_bytes()
    {
        var r = new LseekRequest { Whence = 3 };
        r.Reply(0x0000_0001_0000_2000);
        Assert.Equal(new byte[] { 0x00, 0x20, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 }, Encode(r));
    }

    [Fact]
    public void CopyFileRange_is_fuse_write_out()
    {
        var r = new CopyFileRangeRequest { Is64 = false, Length = 1 << 20 };
        r.Reply(65536);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00 }, Encode(r)); // size, padding
        Assert.Null(r.ValidateReply());
    }

    [Fact]
    public void CopyFileRange64_is_a_64_bit_count()
    {
        var r = new CopyFileRangeRequest { Is64 = true, Length = 0x2_0000_0000 };
        r.Reply(0x1_0000_0005);
        Assert.Equal(new byte[] { 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 }, Encode(r)); // bytes_copied
        Assert.Null(r.ValidateReply());
    }

    // ---------------------------------------------------------------------------------------------
    // READDIR / READDIRPLUS

    /// <summary>Leaves a dirty buffer of that size in the pool, so a request that forgot to clear padding would show it.</summary>
    private static void DirtyPool(int size)
    {
        var b = ArrayPool<byte>.Shared.Rent(size);
        b.AsSpan().Fill(0xFF);
        ArrayPool<byte>.Shared.Return(b);
    }

    private static void ExpectDirent(byte[] b, int at, ulong ino, ulong off, string name, uint type)
    {
        var n = Encoding.UTF8.GetBytes(name);
        U64(b, at, ino);
        U64(b, at + 8, off);
        U32(b, at + 16, (uint)n.Length);
        U32(b, at + 20, type);
        n.CopyTo(b, at + 24);
    }

    [Fact]
    public void ReadDir_records_are_24_bytes_plus_name_padded_to_8()
    {
        DirtyPool(4096);
        var r = new ReadDirRequest { Size = 4096 };
        try
        {
            Assert.True(r.TryAdd(".", 1, 0x41ed, 1));              // 24 + 1 → 32
            Assert.True(r.TryAdd("..", 1, 0x41ed, 2));             // 24 + 2 → 32
            Assert.True(r.TryAdd("file.txt", 5, 0x81a4, 3));       // 24 + 8 → 32, no padding
            Assert.True(r.TryAdd("symlink-9", 6, 0xa1ff, 4));      // 24 + 9 → 40
            Assert.True(r.TryAdd("ż", 7, 0x21b6, 5));              // 24 + 2 (UTF-8) → 32
            Assert.Equal(168, r.Length);
            Assert.True(r.Reply());

            var expected = new byte[168];
            ExpectDirent(expected, 0, 1, 1, ".", 4);               // DT_DIR
            ExpectDirent(expected, 32, 1, 2, "..", 4);
            ExpectDirent(expected, 64, 5, 3, "file.txt", 8);       // DT_REG
            ExpectDirent(expected, 96, 6, 4, "symlink-9", 10);     // DT_LNK
            ExpectDirent(expected, 136, 7, 5, "ż", 2);             // DT_CHR
            Assert.Equal(expected, Encode(r));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Theory]
    [InlineData(0x1000u, 1u)]    // S_IFIFO → DT_FIFO
    [InlineData(0x2000u, 2u)]    // S_IFCHR → DT_CHR
    [InlineData(0x4000u, 4u)]    // S_IFDIR → DT_DIR
    [InlineData(0x6000u, 6u)]    // S_IFBLK → DT_BLK
    [InlineData(0x8000u, 8u)]    // S_IFREG → DT_REG
    [InlineData(0xa000u, 10u)]   // S_IFLNK → DT_LNK
    [InlineData(0xc000u, 12u)]   // S_IFSOCK → DT_SOCK
    public void ReadDir_type_is_DT_from_mode(uint typeBits, uint dt)
    {
        var r = new ReadDirRequest { Size = 4096 };
        try
        {
            Assert.True(r.TryAdd("x", 2, typeBits | 0x1ff, 1));
            Assert.Equal(dt, BinaryPrimitives.ReadUInt32LittleEndian(Encode(r).AsSpan(20)));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDir_TryAdd_is_false_when_the_next_record_does_not_fit()
    {
        var r = new ReadDirRequest { Size = 60 };
        try
        {
            Assert.True(r.TryAdd("a", 2, 0x81a4, 1));              // 32 of 60
            Assert.False(r.TryAdd("b", 3, 0x81a4, 2));             // 64 > 60
            Assert.Equal(32, r.Length);
            Assert.False(r.TryAdd("c", 4, 0x81a4, 2));             // still no room
            r.Reply();
            var expected = new byte[32];
            ExpectDirent(expected, 0, 2, 1, "a", 8);
            Assert.Equal(expected, Encode(r));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDir_record_that_exactly_fills_Size_fits()
    {
        var r = new ReadDirRequest { Size = 64 };
        try
        {
            Assert.True(r.TryAdd("a", 2, 0x81a4, 1));
            Assert.True(r.TryAdd("b", 3, 0x81a4, 2));
            Assert.Equal(64, r.Length);
            Assert.False(r.TryAdd("c", 4, 0x81a4, 3));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDir_smaller_than_one_record_and_empty_reply()
    {
        var r = new ReadDirRequest { Size = 16 };
        try
        {
            Assert.False(r.TryAdd("a", 2, 0x81a4, 1));
            Assert.Equal(0, r.Length);
            Assert.True(r.Reply());    // empty = end of directory
            Assert.Empty(Encode(r));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDirPlus_records_are_152_bytes_plus_name_padded_to_8()
    {
        DirtyPool(4096);
        var r = new ReadDirRequest { IsPlus = true, Size = 4096 };
        try
        {
            var file = new Entry
            {
                NodeId = 5, Generation = 1, Attr = SampleAttr(ino: 55),
                EntryTimeout = TimeSpan.FromSeconds(3), AttrTimeout = TimeSpan.FromMilliseconds(4500),
            };
            var dotdot = new Entry { Attr = new FuseAttr { Ino = 1, Mode = 0x41ed } };   // no node id: no lookup
            Assert.True(r.TryAddPlus("file", file, 3, Settings));         // 152 + 4 → 160
            Assert.True(r.TryAddPlus("..", dotdot, 4, Settings));        // 152 + 2 → 160
            Assert.True(r.TryAddPlus("exactly8", file, 5, Settings));     // 152 + 8 → 160, no padding
            Assert.Equal(480, r.Length);
            r.Reply();

            var expected = new byte[480];
            ExpectEntry(expected, 0, 5, 1, 3, 0, 4, 500_000_000, SampleAttr(ino: 55));
            ExpectDirent(expected, 128, 55, 3, "file", 8);       // dirent.ino is attr.ino, not the node id
            ExpectEntry(expected, 160, 0, 0, 1, 0, 2, 250_000_000, new FuseAttr { Ino = 1, Mode = 0x41ed });
            ExpectDirent(expected, 288, 1, 4, "..", 4);
            ExpectEntry(expected, 320, 5, 1, 3, 0, 4, 500_000_000, SampleAttr(ino: 55));
            ExpectDirent(expected, 448, 55, 5, "exactly8", 8);
            Assert.Equal(expected, Encode(r));
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDirPlus_without_settings_uses_the_defaults()
    {
        var r = new ReadDirRequest { IsPlus = true, Size = 4096 };
        try
        {
            var e = new Entry { NodeId = 5, Attr = SampleAttr() };
            Assert.True(r.TryAddPlus("f", e, 1));
            var b = Encode(r);
            Assert.Equal(160, b.Length);
            Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)));  // entry_valid: default 1 s
            Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24)));  // attr_valid: default 1 s
        }
        finally { r.ReleaseBuffers(); }
    }

    [Fact]
    public void ReadDirPlus_TryAddPlus_is_false_when_the_next_record_does_not_fit()
    {
        var r = new ReadDirRequest { IsPlus = true, Size = 300 };
        try
        {
            var e = new Entry { NodeId = 5, Attr = SampleAttr() };
            Assert.True(r.TryAddPlus("a", e, 1));     // 160
            Assert.False(r.TryAddPlus("b", e, 2));    // 320 > 300
            Assert.Equal(160, r.Length);
            Assert.Equal(160, Encode(r).Length);
        }
        finally { r.ReleaseBuffers(); }
    }

    // ---------------------------------------------------------------------------------------------
    // ValidateReply: replies the kernel would reject (and turn into EIO) are caught before encoding.

    [Fact]
    public void Validate_read_longer_than_Size()
    {
        var r = new ReadRequest { Size = 4 };
        r.Reply(new byte[5]);
        Assert.NotNull(r.ValidateReply());
    }

    [Theory]
    [InlineData(0ul)]
    [InlineData(1ul)]   // FUSE_ROOT_ID handed out for a child
    public void Validate_entry_node_id_0_or_1(ulong nodeId)
    {
        var r = new LookupRequest { Name = "x" };
        r.Reply(SampleEntry(nodeId));
        Assert.NotNull(r.ValidateReply());
    }

    [Fact]
    public void Validate_entry_attr_mode_type_0()
    {
        var r = new MkNodRequest();
        var e = SampleEntry();
        e.Attr.Mode = 0x1a4;    // permissions only, no S_IF type
        r.Reply(e);
        Assert.NotNull(r.ValidateReply());
    }

    [Theory]
    [InlineData(0u)]        // no type at all
    [InlineData(0x1a4u)]    // 0644 without type
    [InlineData(0xf1a4u)]   // type 0xF: not a Linux file type
    [InlineData(0x31a4u)]   // type 3: not a Linux file type
    public void Validate_attr_with_invalid_type(uint mode)
    {
        var r = new GetAttrRequest();
        r.Reply(SampleAttr(mode: mode));
        Assert.NotNull(r.ValidateReply());
    }

    [Fact]
    public void Validate_attr_size_above_int64_max_and_nsec_out_of_range()
    {
        var big = new GetAttrRequest();
        var a = SampleAttr();
        a.Size = (ulong)long.MaxValue + 1;
        big.Reply(a);
        Assert.NotNull(big.ValidateReply());

        var nsec = new GetAttrRequest();
        var b = SampleAttr();
        b.MtimeNsec = 1_000_000_000;
        nsec.Reply(b);
        Assert.NotNull(nsec.ValidateReply());
    }

    [Fact]
    public void Validate_write_claiming_more_than_Size()
    {
        var r = new WriteRequest { Data = new byte[4] };
        r.Reply(5);
        Assert.NotNull(r.ValidateReply());
        var ok = new WriteRequest { Data = new byte[4] };
        ok.Reply(4);
        Assert.Null(ok.ValidateReply());
    }

    [Fact]
    public void Validate_copy_file_range_claiming_more_than_Length()
    {
        var r = new CopyFileRangeRequest { Is64 = true, Length = 10 };
        r.Reply(11);
        Assert.NotNull(r.ValidateReply());
    }

    [Fact]
    public void Validate_empty_symlink_target()
    {
        var r = new ReadLinkRequest();
        r.Reply("");
        Assert.NotNull(r.ValidateReply());
    }

    [Fact]
    public void Validate_a_symlink_target_longer_than_the_kernel_takes()
    {
        var r = new ReadLinkRequest();
        r.Reply(new string('t', ReplyShape.ReadLinkMax));
        Assert.Null(r.ValidateReply());
        r = new ReadLinkRequest();
        r.Reply(new string('t', ReplyShape.ReadLinkMax + 1));
        Assert.Contains("at most 4095", r.ValidateReply());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_directory_entry_name_the_kernel_would_refuse_throws_instead_of_failing_the_whole_listing(bool plus)
    {
        var r = new ReadDirRequest { Size = 1 << 16, IsPlus = plus };
        Assert.True(r.TryAdd("ok", 2, 0x81A4, 1));
        Assert.True(r.TryAdd(new string('n', 255), 3, 0x81A4, 2));
        int before = r.Length;
        Assert.Throws<ArgumentException>(() => r.TryAdd("a/b", 4, 0x81A4, 3));
        Assert.Throws<ArgumentException>(() => r.TryAdd("", 4, 0x81A4, 3));
        Assert.Throws<ArgumentException>(() => r.TryAdd(new string('n', FuseConstants.NameMax + 1), 4, 0x81A4, 3));
        Assert.Equal(before, r.Length); // nothing of a refused record was added
    }
}
