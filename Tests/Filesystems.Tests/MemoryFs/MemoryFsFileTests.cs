using System.Runtime.InteropServices;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

/// <summary>File behaviour of MemoryFs with contents in managed chunks (files below the memfd spill threshold).</summary>
public class MemoryFsFileTests : MemoryFsTestKit
{
    public MemoryFsFileTests() : this(null) { }

    protected MemoryFsFileTests(MemoryFsOptions? options) : base(options) { }

    [Fact]
    public void Root_is_a_directory_with_the_configured_mode()
    {
        var a = GetAttr(Root);
        Assert.Equal(Root, a.Ino);
        Assert.Equal(S_IFDIR | 0x1ED, a.Mode);
        Assert.Equal(2u, a.Nlink);
    }

    [Fact]
    public void Created_file_is_found_by_lookup_and_getattr_with_the_same_attributes()
    {
        var (e, fh) = Create(Root, "hello.txt", uid: 1234, gid: 5678);
        Assert.NotEqual(0UL, fh);
        Assert.True(e.NodeId > Root);
        Assert.Equal(e.NodeId, e.Attr.Ino);
        Assert.Equal(S_IFREG | 0x1A4, e.Attr.Mode);
        Assert.Equal(1234u, e.Attr.Uid);
        Assert.Equal(5678u, e.Attr.Gid);
        Assert.Equal(1u, e.Attr.Nlink);
        Assert.Equal(4096u, e.Attr.BlkSize);
        Assert.Equal((e.Attr.Mtime, e.Attr.MtimeNsec), (e.Attr.Ctime, e.Attr.CtimeNsec));
        Assert.True(e.Attr.Mtime > 1_600_000_000);

        var l = Lookup(Root, "hello.txt");
        Assert.Equal(e.NodeId, l.NodeId);
        Assert.Equal(e.Attr.Mode, l.Attr.Mode);
        var a = GetAttr(e.NodeId);
        Assert.Equal(e.Attr.Ino, a.Ino);
        Assert.Equal(0UL, a.Size);
    }

    [Fact]
    public void Node_ids_are_monotonic_and_not_reused_after_a_file_is_freed()
    {
        var a = MkNod(Root, "a").NodeId;
        Assert.Equal(Errno.Ok, Unlink(Root, "a"));
        Forget((a, 1));
        var b = MkNod(Root, "b").NodeId;
        Assert.True(b > a);
    }

    [Fact]
    public void Create_of_an_existing_name_is_EEXIST()
    {
        Create(Root, "x");
        Assert.Equal(Errno.EEXIST, Err(new CreateRequest { Name = "x", Mode = S_IFREG | 0x1A4 }, Root));
        Assert.Equal(Errno.EEXIST, Err(new MkDirRequest { Name = "x", Mode = 0x1ED }, Root));
    }

    [Fact]
    public void Name_errors_are_ENOENT_ENAMETOOLONG_ENOTDIR_and_unknown_nodes_ENOENT()
    {
        var f = MkNod(Root, "file").NodeId;
        Assert.Equal(Errno.ENOENT, LookupError(Root, "missing"));
        Assert.Equal(Errno.ENAMETOOLONG, LookupError(Root, new string('n', 256)));
        Assert.Equal(Errno.ENAMETOOLONG, Err(new MkNodRequest { Name = new string('é', 128), Mode = S_IFREG }, Root)); // 256 bytes in UTF-8
        MkNod(Root, new string('n', 255)); // 255 is fine
        Assert.Equal(Errno.ENOTDIR, LookupError(f, "x"));
        Assert.Equal(Errno.ENOTDIR, Err(new MkDirRequest { Name = "x", Mode = 0x1ED }, f));
        Assert.Equal(Errno.ENOENT, GetAttrError(999_999));
        Assert.Equal(Errno.ENOENT, LookupError(999_999, "x"));
    }

    [Fact]
    public void Written_data_reads_back_and_reads_past_eof_are_short_or_empty()
    {
        var (e, fh) = Create(Root, "f");
        var data = Pattern(10_000, 1);
        Assert.Equal(10_000u, Write(e.NodeId, fh, 0, data));
        Assert.Equal(data, Read(e.NodeId, fh, 0, 1 << 20));
        Assert.Equal(data[9_000..], Read(e.NodeId, fh, 9_000, 4096));
        Assert.Empty(Read(e.NodeId, fh, 10_000, 4096));
        Assert.Empty(Read(e.NodeId, fh, 1 << 30, 4096));
        var a = GetAttr(e.NodeId);
        Assert.Equal(10_000UL, a.Size);
        Assert.True(a.Blocks >= 10_000 / 512);
    }

    [Fact]
    public void Sparse_write_at_3GiB_extends_the_size_and_holes_read_as_zeros()
    {
        var (e, fh) = Create(Root, "sparse");
        ulong at = 3UL << 30;
        var data = Pattern(8192, 2);
        Write(e.NodeId, fh, at, data);
        var a = GetAttr(e.NodeId);
        Assert.Equal(at + 8192, a.Size);
        Assert.True(a.Blocks * 512 <= 2 * FileData.ChunkSize, $"blocks {a.Blocks}: the hole must not be allocated");
        Assert.All(Read(e.NodeId, fh, 1UL << 30, 128 * 1024), b => Assert.Equal(0, b));
        Assert.All(Read(e.NodeId, fh, at - 4096, 4096), b => Assert.Equal(0, b));
        Assert.Equal(data, Read(e.NodeId, fh, at, 8192));
        // A read straddling the hole and the data.
        var straddle = Read(e.NodeId, fh, at - 100, 200);
        Assert.All(straddle[..100], b => Assert.Equal(0, b));
        Assert.Equal(data[..100], straddle[100..]);
    }

    [Fact]
    public void Truncate_shrink_frees_data_and_grow_is_a_sparse_zero_tail()
    {
        var (e, fh) = Create(Root, "t");
        Write(e.NodeId, fh, 0, Enumerable.Repeat((byte)0xCD, 300_000).ToArray());
        var big = GetAttr(e.NodeId);
        var shrunk = Truncate(e.NodeId, 1000);
        Assert.Equal(1000UL, shrunk.Size);
        Assert.True(shrunk.Blocks < big.Blocks);
        Assert.True((shrunk.Mtime, shrunk.MtimeNsec).CompareTo((big.Mtime, big.MtimeNsec)) >= 0);
        var grown = Truncate(e.NodeId, 200_000);
        Assert.Equal(200_000UL, grown.Size);
        Assert.Equal(shrunk.Blocks, grown.Blocks);
        var back = Read(e.NodeId, fh, 0, 200_000);
        Assert.Equal(200_000, back.Length);
        Assert.All(back[..1000], b => Assert.Equal(0xCD, b));
        Assert.All(back[1000..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Open_with_O_TRUNC_truncates_the_file()
    {
        var (e, fh) = Create(Root, "o");
        Write(e.NodeId, fh, 0, Pattern(5000, 3));
        Release(e.NodeId, fh);
        ulong fh2 = Open(e.NodeId, OpenFlags.WriteOnly | OpenFlags.Truncate);
        Assert.Equal(0UL, GetAttr(e.NodeId).Size);
        Assert.Empty(Read(e.NodeId, fh2, 0, 4096));
        ulong fh3 = Open(e.NodeId, 0); // O_RDONLY alone keeps contents
        Write(e.NodeId, fh2, 0, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, Read(e.NodeId, fh3, 0, 10));
    }

    [Fact]
    public void Chmod_keeps_the_file_type_and_chown_sets_owner()
    {
        var e = MkNod(Root, "m");
        var a = SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Mode, Mode = S_IFREG | 0xFFF });
        Assert.Equal(S_IFREG | 0xFFF, a.Mode);
        a = SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Mode, Mode = 0x180 }); // no type bits sent
        Assert.Equal(S_IFREG | 0x180, a.Mode);
        a = SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Uid | SetAttrValid.Gid, AttrUid = 7, AttrGid = 8 });
        Assert.Equal((7u, 8u), (a.Uid, a.Gid));
        a = SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Gid, AttrGid = 9 });
        Assert.Equal((7u, 9u), (a.Uid, a.Gid));
    }

    [Fact]
    public void Setattr_sets_explicit_times_and_NOW_times()
    {
        var e = MkNod(Root, "times");
        var a = SetAttr(e.NodeId, new SetAttrRequest
        {
            Valid = SetAttrValid.Atime | SetAttrValid.Mtime,
            Atime = new FsTime(1_000_000, 5),
            Mtime = new FsTime(2_000_000, 6),
        });
        Assert.Equal((1_000_000UL, 5u), (a.Atime, a.AtimeNsec));
        Assert.Equal((2_000_000UL, 6u), (a.Mtime, a.MtimeNsec));
        Assert.True(a.Ctime > 1_600_000_000); // ctime is "now"

        a = SetAttr(e.NodeId, new SetAttrRequest
        {
            Valid = SetAttrValid.Atime | SetAttrValid.Mtime | SetAttrValid.AtimeNow | SetAttrValid.MtimeNow,
            Atime = new FsTime(1, 0),
            Mtime = new FsTime(1, 0),
        });
        Assert.True(a.Atime > 1_600_000_000 && a.Mtime > 1_600_000_000);

        a = SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Ctime, Ctime = new FsTime(3_000_000, 7) });
        Assert.Equal((3_000_000UL, 7u), (a.Ctime, a.CtimeNsec));
    }

    [Fact]
    public void Truncating_a_directory_is_EISDIR()
    {
        var d = MkDir(Root, "d");
        Assert.Equal(Errno.EISDIR, Err(new SetAttrRequest { Valid = SetAttrValid.Size, Size = 0 }, d.NodeId));
    }

    [Fact]
    public void Write_updates_mtime_and_ctime()
    {
        var (e, fh) = Create(Root, "w");
        SetAttr(e.NodeId, new SetAttrRequest { Valid = SetAttrValid.Mtime, Mtime = new FsTime(1000, 0) });
        Write(e.NodeId, fh, 0, [1]);
        var a = GetAttr(e.NodeId);
        Assert.True(a.Mtime > 1_600_000_000);
        Assert.Equal((a.Mtime, a.MtimeNsec), (a.Ctime, a.CtimeNsec));
    }

    [Fact]
    public void TmpFile_makes_an_unnamed_file_that_a_link_can_name_and_that_is_freed_otherwise()
    {
        int before = StatFsFilesFree();
        var r = Ok(new CreateRequest { IsTmpFile = true, Mode = S_IFREG | 0x180, Flags = OpenFlags.ReadWrite }, Root);
        Assert.Equal(Opcode.TmpFile, r.Opcode);
        var p = Payload(r);
        var e = Decode<FuseEntryOut>(p);
        ulong fh = Decode<FuseOpenOut>(p, Marshal.SizeOf<FuseEntryOut>()).Fh;
        Assert.Equal(0u, e.Attr.Nlink);
        Assert.Equal(5u, Write(e.NodeId, fh, 0, "hello"u8.ToArray()));
        Assert.Equal(Errno.ENOENT, LookupError(Root, "named"));

        var named = Link(e.NodeId, Root, "named");
        Assert.Equal(1u, named.Attr.Nlink);
        Assert.Equal("hello"u8.ToArray(), Read(e.NodeId, fh, 0, 100));

        // One that is never named goes away with its last handle and lookup.
        var t = Payload(Ok(new CreateRequest { IsTmpFile = true, Mode = S_IFREG | 0x180, Flags = OpenFlags.ReadWrite }, Root));
        var te = Decode<FuseEntryOut>(t);
        Release(te.NodeId, Decode<FuseOpenOut>(t, Marshal.SizeOf<FuseEntryOut>()).Fh);
        Forget((te.NodeId, 1));
        Assert.Equal(before - 1, StatFsFilesFree()); // only "named" is left
    }

    private int StatFsFilesFree() => (int)StatFs().Ffree;

    [Fact]
    public void Fallocate_zero_range_zeroes_keeps_allocation_and_grows_the_file_unless_keep_size()
    {
        const int C = FileData.ChunkSize;
        var (e, fh) = Create(Root, "zr");
        ulong n = e.NodeId;
        Write(n, fh, 0, Enumerable.Repeat((byte)9, 3 * C).ToArray());

        // Across chunk edges, inside the file.
        Ok(new FallocateRequest { Fh = fh, Offset = C - 100, Length = C + 200, Mode = FallocateFlags.ZeroRange }, n);
        var bytes = Read(n, fh, 0, 3 * C);
        Assert.All(bytes[..(C - 100)], b => Assert.Equal(9, b));
        Assert.All(bytes[(C - 100)..(2 * C + 100)], b => Assert.Equal(0, b));
        Assert.All(bytes[(2 * C + 100)..], b => Assert.Equal(9, b));
        Assert.Equal(3UL * C, GetAttr(n).Size);
        Assert.Equal(3UL * C / 512, GetAttr(n).Blocks);

        // Past EOF: KEEP_SIZE keeps the size, without it the file grows; both allocate.
        Ok(new FallocateRequest { Fh = fh, Offset = 2 * C, Length = 2 * C, Mode = FallocateFlags.ZeroRange | FallocateFlags.KeepSize }, n);
        Assert.Equal(3UL * C, GetAttr(n).Size);
        Assert.All(Read(n, fh, 2 * C, C), b => Assert.Equal(0, b));
        Ok(new FallocateRequest { Fh = fh, Offset = 3 * C, Length = C, Mode = FallocateFlags.ZeroRange }, n);
        Assert.Equal(4UL * C, GetAttr(n).Size);
        Assert.Equal(4UL * C / 512, GetAttr(n).Blocks);
    }

    [Fact]
    public void Fallocate_allocates_punches_holes_and_seek_data_and_hole_follow()
    {
        const int C = FileData.ChunkSize;
        var (e, fh) = Create(Root, "fa");
        ulong n = e.NodeId;

        Ok(new FallocateRequest { Fh = fh, Offset = 0, Length = 4 * C, Mode = FallocateFlags.None }, n);
        var a = GetAttr(n);
        Assert.Equal(4UL * C, a.Size);
        Assert.Equal(4UL * C / 512, a.Blocks);

        Ok(new FallocateRequest { Fh = fh, Offset = 4 * C, Length = C, Mode = FallocateFlags.KeepSize }, n);
        Assert.Equal(4UL * C, GetAttr(n).Size);
        Assert.Equal(5UL * C / 512, GetAttr(n).Blocks);

        // Written data everywhere before EOF, so the layout below is data for every store (tmpfs, which holds
        // memfd contents, reports fallocated but never written pages as holes, as ext4 does).
        Write(n, fh, 0, Enumerable.Repeat((byte)7, 4 * C).ToArray());
        Ok(new FallocateRequest { Fh = fh, Offset = C, Length = C, Mode = FallocateFlags.PunchHole | FallocateFlags.KeepSize }, n);
        a = GetAttr(n);
        Assert.Equal(4UL * C, a.Size);
        Assert.Equal(4UL * C / 512, a.Blocks);
        Assert.All(Read(n, fh, C, C), b => Assert.Equal(0, b));
        Assert.All(Read(n, fh, 2 * C, C), b => Assert.Equal(7, b));

        Assert.Equal(Errno.EOPNOTSUPP, Err(new FallocateRequest { Fh = fh, Offset = 0, Length = C, Mode = FallocateFlags.PunchHole }, n));
        Assert.Equal(Errno.EOPNOTSUPP, Err(new FallocateRequest { Fh = fh, Offset = 0, Length = C, Mode = FallocateFlags.CollapseRange }, n));

        ulong Seek(ulong off, uint whence) =>
            Decode<FuseLseekOut>(Payload(Ok(new LseekRequest { Fh = fh, Offset = off, Whence = whence }, n))).Offset;
        Errno SeekErr(ulong off, uint whence) => Err(new LseekRequest { Fh = fh, Offset = off, Whence = whence }, n);

        // Layout: chunk 0 data, chunk 1 hole, chunks 2-3 data, EOF at 4C (chunk 4 allocated past EOF).
        Assert.Equal(0UL, Seek(0, 3));
        Assert.Equal((ulong)C, Seek(0, 4));
        Assert.Equal(2UL * C, Seek(C + 10, 3));
        Assert.Equal(C + 10UL, Seek(C + 10, 4));
        Assert.Equal(4UL * C, Seek(2 * C, 4)); // no hole before EOF: EOF
        Assert.Equal(Errno.ENXIO, SeekErr(4 * C, 3));
        Assert.Equal(Errno.ENXIO, SeekErr(4 * C, 4));

        Truncate(n, 10UL * C); // hole to the end
        Assert.Equal(Errno.ENXIO, SeekErr(5 * C, 3));
    }

    [Fact]
    public void Copy_file_range_copies_between_files_by_node_id()
    {
        var (src, fhIn) = Create(Root, "src");
        var (dst, fhOut) = Create(Root, "dst");
        var data = Pattern(100_000, 9);
        Write(src.NodeId, fhIn, 0, data);
        var r = Ok(new CopyFileRangeRequest
        {
            Is64 = true, FhIn = fhIn, OffsetIn = 1000, NodeIdOut = dst.NodeId, FhOut = fhOut, OffsetOut = 50, Length = 1 << 30,
        }, src.NodeId);
        Assert.Equal(99_000UL, Decode<FuseCopyFileRangeOut>(Payload(r)).BytesCopied);
        Assert.Equal(99_050UL, GetAttr(dst.NodeId).Size);
        var back = Read(dst.NodeId, fhOut, 0, 200_000);
        Assert.All(back[..50], b => Assert.Equal(0, b));
        Assert.Equal(data[1000..], back[50..]);

        var past = Ok(new CopyFileRangeRequest { FhIn = fhIn, OffsetIn = 200_000, NodeIdOut = dst.NodeId, FhOut = fhOut, Length = 10 }, src.NodeId);
        Assert.Equal(0u, Decode<FuseWriteOut>(Payload(past)).Size);
        Assert.Equal(Errno.EINVAL, Err(new CopyFileRangeRequest { FhIn = fhIn, OffsetIn = 0, NodeIdOut = src.NodeId, FhOut = fhIn, OffsetOut = 10, Length = 100 }, src.NodeId));
    }

    [Fact]
    public void Fallocate_and_copy_file_range_of_petabytes_are_refused_with_ENOSPC_without_walking_the_range()
    {
        // Before the fix the space check took one step per 64 KiB of the range: 2^34 for the first request below,
        // with the actor serving nothing else meanwhile (tmpfs answers ENOSPC at once).
        var (e, fh) = Create(Root, "huge");
        Write(e.NodeId, fh, 0, Pattern(100, 3));
        Assert.Equal(Errno.ENOSPC, Err(new FallocateRequest { Fh = fh, Offset = 0, Length = 1UL << 50, Mode = FallocateFlags.None }, e.NodeId));
        Assert.Equal(Errno.ENOSPC, Err(new FallocateRequest { Fh = fh, Offset = 1UL << 40, Length = 1UL << 59, Mode = FallocateFlags.KeepSize }, e.NodeId));
        Assert.Equal(Errno.ENOSPC, Err(new FallocateRequest { Fh = fh, Offset = 0, Length = 1UL << 50, Mode = FallocateFlags.ZeroRange }, e.NodeId));
        Assert.Equal(100UL, GetAttr(e.NodeId).Size);

        var (src, fhIn) = Create(Root, "sparse");
        Truncate(src.NodeId, 1UL << 59);
        Assert.Equal(Errno.ENOSPC, Err(new CopyFileRangeRequest
        {
            Is64 = true, FhIn = fhIn, OffsetIn = 0, NodeIdOut = e.NodeId, FhOut = fh, OffsetOut = 0, Length = 1UL << 59,
        }, src.NodeId));
        Assert.Equal(Pattern(100, 3), Read(e.NodeId, fh, 0, 200));
    }

    [Fact]
    public void Read_and_write_on_a_directory_are_EISDIR()
    {
        var d = MkDir(Root, "d");
        Assert.Equal(Errno.EISDIR, Err(new ReadRequest { Offset = 0, Size = 10 }, d.NodeId));
        Assert.Equal(Errno.EISDIR, WriteError(d.NodeId, 0, 0, [1]));
    }
}

/// <summary>The same file behaviour with every file's contents in a memfd from its first byte (spill threshold 0).</summary>
public sealed class MemoryFsFileInMemfdTests : MemoryFsFileTests
{
    public MemoryFsFileInMemfdTests() : base(new MemoryFsOptions { SpillToMemfdAboveBytes = 0 }) { }
}

public class MemoryFsCapacityTests : MemoryFsTestKit
{
    private const long Capacity = 16 * FileData.ChunkSize; // 1 MiB

    public MemoryFsCapacityTests() : base(new MemoryFsOptions { CapacityBytes = Capacity, MaxInodes = 10 }) { }

    [Fact]
    public void Statfs_reports_capacity_and_inodes_and_follows_usage()
    {
        var st = StatFs();
        Assert.Equal(4096u, st.Bsize);
        Assert.Equal(4096u, st.Frsize);
        Assert.Equal(255u, st.NameLen);
        Assert.Equal((ulong)Capacity / 4096, st.Blocks);
        Assert.Equal(st.Blocks, st.Bfree);
        Assert.Equal(st.Bfree, st.Bavail);
        Assert.Equal(10UL, st.Files);
        Assert.Equal(9UL, st.Ffree); // the root

        var (e, fh) = Create(Root, "f");
        Write(e.NodeId, fh, 0, new byte[3 * FileData.ChunkSize]);
        st = StatFs();
        Assert.Equal(8UL, st.Ffree);
        Assert.True(Actor.MetadataBytes > 0); // the inode and its name count too
        Assert.Equal((ulong)(Capacity - 3 * FileData.ChunkSize - Actor.MetadataBytes) / 4096, st.Bfree);

        Release(e.NodeId, fh);
        Unlink(Root, "f");
        Forget((e.NodeId, 1));
        st = StatFs();
        Assert.Equal(9UL, st.Ffree);
        Assert.Equal(st.Blocks, st.Bfree);
    }

    [Fact]
    public void Writes_beyond_capacity_fail_with_ENOSPC_and_change_nothing()
    {
        var (e, fh) = Create(Root, "big");
        Write(e.NodeId, fh, 0, new byte[15 * FileData.ChunkSize]);
        Assert.Equal(Errno.ENOSPC, WriteError(e.NodeId, fh, 15 * FileData.ChunkSize, new byte[2 * FileData.ChunkSize]));
        Assert.Equal(15UL * FileData.ChunkSize, GetAttr(e.NodeId).Size);
        // Overwriting allocated data needs no space.
        Assert.Equal(100u, Write(e.NodeId, fh, 0, new byte[100]));
        // Neither does a sparse size change.
        Truncate(e.NodeId, 1UL << 40);
        Assert.Equal(Errno.ENOSPC, Err(new FallocateRequest { Fh = fh, Offset = 0, Length = 1UL << 30 }, e.NodeId));
        // Freeing data makes room again.
        Truncate(e.NodeId, 0);
        Assert.Equal(2u * FileData.ChunkSize, Write(e.NodeId, fh, 0, new byte[2 * FileData.ChunkSize]));
        Assert.Equal((long)2 * FileData.ChunkSize, Actor.UsedBytes);
    }

    [Fact]
    public void Creating_beyond_the_inode_limit_fails_with_ENOSPC()
    {
        for (int i = 0; i < 9; i++) MkNod(Root, $"n{i}");
        Assert.Equal(Errno.ENOSPC, Err(new MkNodRequest { Name = "one-too-many", Mode = S_IFREG | 0x1A4 }, Root));
        Assert.Equal(Errno.ENOSPC, Err(new MkDirRequest { Name = "dir", Mode = 0x1ED }, Root));
        Assert.Equal(0UL, StatFs().Ffree);
    }
}

/// <summary>Metadata counts against the capacity: empty files cannot fill memory without bound.</summary>
public sealed class MemoryFsMetadataCapacityTests : MemoryFsTestKit
{
    public MemoryFsMetadataCapacityTests() : base(new MemoryFsOptions { CapacityBytes = 8192 }) { }

    [Fact]
    public void Empty_files_run_out_of_space_and_removing_them_gives_it_back()
    {
        int made = 0;
        while (made < 1000 && Err(new MkNodRequest { Name = $"f{made}", Mode = S_IFREG | 0x1A4 }, Root) == Errno.Ok) made++;
        Assert.InRange(made, 5, 30); // ~330 bytes each in 8 KiB
        Assert.Equal(0UL, StatFs().Bfree);
        var f0 = Lookup(Root, "f0");
        Unlink(Root, "f0");
        Forget((f0.NodeId, 2)); // the kernel forgets it (MKNOD's lookup and ours): the inode is freed
        MkNod(Root, "again");
    }
}

/// <summary>The capacity as tmpfs spells it, from <c>fuseactors.memory-fs</c>.</summary>
public sealed class MemoryFsOptionsTests
{
    [Fact]
    public void Sizes_parse_as_tmpfs_spells_them()
    {
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.Equal(memory / 2, MemoryFsOptions.ParseSize("50%"));
        Assert.Equal(512L << 20, MemoryFsOptions.ParseSize("512m"));
        Assert.Equal(2L << 30, MemoryFsOptions.ParseSize("2G"));
        Assert.Equal(65536L << 10, MemoryFsOptions.ParseSize("65536k"));
        Assert.Equal(1048576L, MemoryFsOptions.ParseSize("1048576"));
        foreach (var bad in new[] { "", "0", "-1m", "lots", "150%", "12q" })
            Assert.Throws<FormatException>(() => MemoryFsOptions.ParseSize(bad));
    }

    [Fact]
    public void The_default_is_half_of_memory_and_the_config_overrides_it()
    {
        Assert.Equal(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2, new MemoryFsOptions().CapacityBytes);
        var options = MemoryFsOptions.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(
            "fuseactors.memory-fs { size = 64m, max-inodes = 1000 }"));
        Assert.Equal((64L << 20, 1000L), (options.CapacityBytes, options.MaxInodes));
    }
}
