using System.Buffers.Binary;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests;

/// <summary>
/// <see cref="ReplyEncoder"/> without any request object: payload sizes from linux/fuse.h and bytes read back by
/// offset. The request-level encodings (each FsRequest's EncodeReply) are pinned byte for byte in Actors.Tests' ReplyEncodingTests.
/// </summary>
public sealed class ReplyEncoderTests
{
    private static readonly NegotiatedProtocol P = new() { EntryTimeout = TimeSpan.FromSeconds(1), AttrTimeout = TimeSpan.FromMilliseconds(2250) };

    private static Span<byte> Scratch()
    {
        var b = new byte[4096];
        b.AsSpan().Fill(0xAA);
        return b;
    }

    private static ulong U64(ReadOnlySpan<byte> b, int off) => BinaryPrimitives.ReadUInt64LittleEndian(b[off..]);
    private static uint U32(ReadOnlySpan<byte> b, int off) => BinaryPrimitives.ReadUInt32LittleEndian(b[off..]);

    [Fact]
    public void Entry_takes_the_protocol_defaults_unless_given()
    {
        var attr = new FuseAttr { Ino = 9, Mode = 0x81a4 };
        var e = ReplyEncoder.Entry(Scratch(), 9, 3, attr, null, null, P);
        Assert.Equal(128, e.Length);                    // sizeof(struct fuse_entry_out)
        Assert.Equal(9ul, U64(e, 0));                   // nodeid
        Assert.Equal(3ul, U64(e, 8));                   // generation
        Assert.Equal(1ul, U64(e, 16));                  // entry_valid
        Assert.Equal(2ul, U64(e, 24));                  // attr_valid
        Assert.Equal(0u, U32(e, 32));                   // entry_valid_nsec
        Assert.Equal(250_000_000u, U32(e, 36));         // attr_valid_nsec
        Assert.Equal(9ul, U64(e, 40));                  // attr.ino

        e = ReplyEncoder.Entry(Scratch(), 9, 3, attr, TimeSpan.FromMilliseconds(1500), TimeSpan.Zero, P);
        Assert.Equal(1ul, U64(e, 16));
        Assert.Equal(500_000_000u, U32(e, 32));
        Assert.Equal(0ul, U64(e, 24));
        Assert.Equal(0u, U32(e, 36));
    }

    [Fact]
    public void Create_is_entry_then_open()
    {
        var c = ReplyEncoder.Create(Scratch(), 9, 0, default, null, null, 0x1122334455667788, FopenFlags.KeepCache | FopenFlags.Passthrough, 4, P);
        Assert.Equal(128 + 16, c.Length);               // fuse_entry_out + fuse_open_out
        Assert.Equal(0x1122334455667788ul, U64(c, 128)); // fh
        Assert.Equal(0x82u, U32(c, 136));               // open_flags: FOPEN_KEEP_CACHE | FOPEN_PASSTHROUGH
        Assert.Equal(4u, U32(c, 140));                  // backing_id
    }

    [Fact]
    public void Attr_open_write_lseek_xattr_statfs_init_sizes()
    {
        Assert.Equal(104, ReplyEncoder.Attr(Scratch(), default, null, P).Length);
        Assert.Equal(16, ReplyEncoder.Open(Scratch(), 1, 0, 0).Length);
        Assert.Equal(8, ReplyEncoder.Write(Scratch(), 5).Length);
        Assert.Equal(8, ReplyEncoder.Lseek(Scratch(), 5).Length);
        Assert.Equal(8, ReplyEncoder.XAttrSize(Scratch(), 5).Length);
        Assert.Equal(80, ReplyEncoder.StatFs(Scratch(), default).Length);
        Assert.Equal(64, ReplyEncoder.Init(Scratch(), default).Length);
    }

    [Fact]
    public void Copy_file_range_clamps_to_32_bits_and_64_does_not()
    {
        var c = ReplyEncoder.CopyFileRange(Scratch(), 1UL << 33);
        Assert.Equal(8, c.Length);
        Assert.Equal(uint.MaxValue, U32(c, 0));
        Assert.Equal(0u, U32(c, 4));
        var c64 = ReplyEncoder.CopyFileRange64(Scratch(), 1UL << 33);
        Assert.Equal(8, c64.Length);
        Assert.Equal(1UL << 33, U64(c64, 0));
    }

    [Fact]
    public void Lock_out_is_fuse_file_lock_and_clamps_the_end_to_OFFSET_MAX()
    {
        var b = ReplyEncoder.Lock(Scratch(), 10, 19, 1, 4321);
        Assert.Equal(24, b.Length); // fuse_lk_out: fuse_file_lock (start, end, type, pid)
        Assert.Equal((10ul, 19ul, 1u, 4321u), (U64(b, 0), U64(b, 8), U32(b, 16), U32(b, 20)));
        // "To the end of the file": the kernel takes OFFSET_MAX (LLONG_MAX) and answers EIO for anything larger.
        b = ReplyEncoder.Lock(Scratch(), 0, ulong.MaxValue, 0, 7);
        Assert.Equal((0ul, 0x7ffffffffffffffful, 0u, 7u), (U64(b, 0), U64(b, 8), U32(b, 16), U32(b, 20)));
        b = ReplyEncoder.Lock(Scratch(), 0, 0, 2, 0); // no conflict: F_UNLCK
        Assert.Equal(2u, U32(b, 16));
    }

    [Fact]
    public void Notifications_carry_unique_0_and_the_code_in_the_error_field()
    {
        var head = ReplyEncoder.NotifyHeader(Scratch(), NotifyCode.InvalEntry, 20);
        Assert.Equal((36u, 3u, 0ul), (U32(head, 0), U32(head, 4), U64(head, 8)));

        var inode = ReplyEncoder.NotifyInvalInode(Scratch(), 5, -1, 0);
        Assert.Equal(24, inode.Length);
        Assert.Equal((5ul, ulong.MaxValue, 0ul), (U64(inode, 0), U64(inode, 8), U64(inode, 16)));

        var entry = ReplyEncoder.NotifyInvalEntry(Scratch(), 1, "abc"u8);
        Assert.Equal(16 + 3 + 1, entry.Length);
        Assert.Equal((1ul, 3u, 0u), (U64(entry, 0), U32(entry, 8), U32(entry, 12)));
        Assert.True(entry[16..].SequenceEqual("abc\0"u8));

        var delete = ReplyEncoder.NotifyDelete(Scratch(), 1, 9, "xy"u8);
        Assert.Equal(24 + 2 + 1, delete.Length);
        Assert.Equal((1ul, 9ul, 2u, 0u), (U64(delete, 0), U64(delete, 8), U32(delete, 16), U32(delete, 20)));
        Assert.True(delete[24..].SequenceEqual("xy\0"u8));
    }

    [Fact]
    public void Data_is_passed_through_not_copied()
    {
        var data = new byte[] { 1, 2, 3 };
        var d = ReplyEncoder.Data(Scratch(), data);
        Assert.True(d.Overlaps(data));
        Assert.Equal(3, d.Length);
    }

    [Fact]
    public void Timeout_splits_seconds_and_nanoseconds()
    {
        Assert.Equal((2ul, 250_000_000u), ReplyEncoder.Timeout(TimeSpan.FromMilliseconds(2250)));
        Assert.Equal((0ul, 0u), ReplyEncoder.Timeout(TimeSpan.FromSeconds(-1)));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("file.txt")]
    [InlineData("żółw-0123456789")]
    public void Dirent_records_match_the_Dirents_packer(string name)
    {
        int nameLen = System.Text.Encoding.UTF8.GetByteCount(name);
        var record = new byte[Dirents.Size(nameLen)];
        record.AsSpan().Fill(0xAA);
        ReplyEncoder.Dirent(record, 42, 7, 8, System.Text.Encoding.UTF8.GetBytes(name));
        var b = Wire.Build();
        Dirents.Append(b, 42, 7, 8, name);
        Assert.Equal(b.ToArray(), record);

        var entry = ReplyEncoder.EntryOut(9, 1, new FuseAttr { Ino = 42, Mode = 0x81a4 }, TimeSpan.FromSeconds(1), TimeSpan.Zero);
        var plus = new byte[Dirents.PlusSize(nameLen)];
        plus.AsSpan().Fill(0xAA);
        ReplyEncoder.DirentPlus(plus, entry, 7, 8, System.Text.Encoding.UTF8.GetBytes(name));
        b = Wire.Build();
        Dirents.AppendPlus(b, entry, 7, 8, name);
        Assert.Equal(b.ToArray(), plus);
    }
}
