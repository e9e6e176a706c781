using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>PassthroughFs driven request by request: node bookkeeping, handles, readdir cookies and errno pass-through.
/// Reads and writes go through its I/O pool (the default options).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class PassthroughFsTests : PassthroughTestKit
{
    public PassthroughFsTests() : this(null) { }

    protected PassthroughFsTests(PassthroughOptions? options) : base(options) { }

    [Fact]
    public void Create_write_read_round_trips_through_the_host_file()
    {
        var (e, fh) = Create(Root, "f");
        var data = Pattern(300_000, 1);
        Assert.Equal((uint)data.Length, Write(e.NodeId, fh, 0, data));
        Assert.Equal(data, File.ReadAllBytes(InSource("f")));
        Assert.Equal(data.AsSpan(1000, 5000).ToArray(), Read(e.NodeId, fh, 1000, 5000));
        Assert.Empty(Read(e.NodeId, fh, 400_000, 10)); // past EOF
        Assert.Equal((ulong)data.Length, GetAttr(e.NodeId).Size);
        Ok(new FlushRequest { Fh = fh }, e.NodeId);
        Ok(new FsyncRequest { Fh = fh, DataSync = true }, e.NodeId);
        Release(e.NodeId, fh);
        Assert.Equal(0, Actor.OpenHandleCount);
        Assert.Equal(new FileInfo(InSource("f")).Length, (long)Lookup(Root, "f").Attr.Size);
    }

    [Fact]
    public void Create_without_o_excl_opens_an_existing_file_and_keeps_its_owner_and_mode()
    {
        File.WriteAllText(InSource("f"), "old");
        File.SetUnixFileMode(InSource("f"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (e, fh) = Create(Root, "f", uid: 1000, gid: 1000, flags: OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Truncate | (OpenFlags)0x8000 /* O_LARGEFILE on x86-64 */);
        Assert.Equal((0u, 0u, 0x180u, 0UL), (e.Attr.Uid, e.Attr.Gid, e.Attr.Mode & 0xFFF, e.Attr.Size));
        Release(e.NodeId, fh);
        Assert.Equal(Errno.EEXIST, Err(new CreateRequest { Name = "f", Mode = S_IFREG | 0x1A4, Flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive }, Root));
    }

    [Fact]
    public void Created_nodes_belong_to_the_caller_with_exactly_the_requested_mode()
    {
        var (f, fh) = Create(Root, "f", mode: S_IFREG | 0x1B6 /* 0666: the daemon's umask must not apply */, uid: 1000, gid: 2000);
        Release(f.NodeId, fh);
        var d = MkDir(Root, "d", mode: 0x3FF, uid: 1000, gid: 2000);
        var s = EntryOf(Ok(new SymlinkRequest { Name = "s", Target = "f"u8.ToArray() }, Root, 1000, 2000));
        var n = EntryOf(Ok(new MkNodRequest { Name = "p", Mode = S_IFIFO | 0x1B0 }, Root, 1000, 2000));
        Assert.Equal((1000u, 2000u, S_IFREG | 0x1B6), (f.Attr.Uid, f.Attr.Gid, f.Attr.Mode));
        Assert.Equal((1000u, 2000u, S_IFDIR | 0x3FF), (d.Attr.Uid, d.Attr.Gid, d.Attr.Mode));
        Assert.Equal((1000u, 2000u, S_IFLNK), (s.Attr.Uid, s.Attr.Gid, s.Attr.Mode & 0xF000));
        Assert.Equal((1000u, 2000u, S_IFIFO | 0x1B0), (n.Attr.Uid, n.Attr.Gid, n.Attr.Mode));
        Assert.Equal(UnixFileMode.OtherWrite | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.GroupRead | UnixFileMode.UserWrite | UnixFileMode.UserRead,
            File.GetUnixFileMode(InSource("f")));
    }

    [Fact]
    public void A_set_group_id_directory_keeps_choosing_the_group()
    {
        var d = MkDir(Root, "shared", mode: 0x5FF /* 02777 */, uid: 0, gid: 0);
        Shell("chown 0:777 " + InSource("shared") + " && chmod 2777 " + InSource("shared"));
        var (f, fh) = Create(d.NodeId, "f", uid: 1000, gid: 2000);
        Release(f.NodeId, fh);
        var sub = MkDir(d.NodeId, "sub", uid: 1000, gid: 2000);
        Assert.Equal((1000u, 777u), (f.Attr.Uid, f.Attr.Gid));
        Assert.Equal((1000u, 777u, 0x400u), (sub.Attr.Uid, sub.Attr.Gid, sub.Attr.Mode & 0x400));
    }

    [Fact]
    public void Hard_links_and_repeated_lookups_share_one_node_and_forget_closes_its_descriptor()
    {
        File.WriteAllText(InSource("a"), "data");
        File.CreateSymbolicLink(InSource("sym"), "a");
        Shell($"ln {InSource("a")} {InSource("b")}");
        var a = Lookup(Root, "a");
        var b = Lookup(Root, "b");
        Lookup(Root, "a");
        Assert.Equal(a.NodeId, b.NodeId);
        Assert.Equal(a.Attr.Ino, b.Attr.Ino);
        Assert.Equal(3UL, Actor.LookupCountOf(a.NodeId));
        var l = Link(a.NodeId, Root, "c");
        Assert.Equal(a.NodeId, l.NodeId);
        Assert.Equal(3u, l.Attr.Nlink);
        Assert.Equal(4UL, Actor.LookupCountOf(a.NodeId));

        int fd = Actor.DescriptorOf(a.NodeId);
        Assert.True(fd >= 0);
        var fdLink = $"/proc/self/fd/{fd}";
        Assert.Equal(InSource("a"), new FileInfo(fdLink).LinkTarget);
        Forget((a.NodeId, 3));
        Assert.Equal(1UL, Actor.LookupCountOf(a.NodeId));
        Forget((a.NodeId, 1));
        Assert.Equal(Errno.ENOENT, GetAttrError(a.NodeId));
        Assert.NotEqual(InSource("a"), ReadLinkOrNull(fdLink)); // closed (or reused for something else)
        Forget((Root, 5)); // never the root
        Assert.Equal(S_IFDIR, GetAttr(Root).Mode & 0xF000);
    }

    [Fact]
    public void An_unlinked_open_file_stays_usable_until_release_and_forget()
    {
        var (e, fh) = Create(Root, "doomed");
        Write(e.NodeId, fh, 0, Pattern(5000, 2));
        Assert.Equal(Errno.Ok, Err(new UnlinkRequest { Name = "doomed" }, Root));
        Assert.Equal(Errno.ENOENT, LookupError(Root, "doomed"));
        Assert.Equal(0u, GetAttr(e.NodeId).Nlink);
        Assert.Equal(Pattern(5000, 2), Read(e.NodeId, fh, 0, 8192));
        Release(e.NodeId, fh);
        Assert.Equal(0u, GetAttr(e.NodeId).Nlink); // the kernel still holds its lookup
        Forget((e.NodeId, 1));
        Assert.Equal(Errno.ENOENT, GetAttrError(e.NodeId));
    }

    [Fact]
    public void Readdir_lists_host_entries_with_stable_cookies_across_small_pages()
    {
        for (int i = 0; i < 100; i++) File.WriteAllText(InSource($"file-{i:D3}"), "x");
        Directory.CreateDirectory(InSource("dir"));
        var all = ReadDirAll(Root, size: 200);
        var names = all.Select(r => r.Name).Order(StringComparer.Ordinal).ToArray();
        var expected = Directory.GetFileSystemEntries(Source).Select(Path.GetFileName).Append(".").Append("..").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, names);
        Assert.All(all, r => Assert.NotEqual(0UL, r.Off));
        Assert.Equal(4u, all.Single(r => r.Name == "dir").Type); // DT_DIR

        // Continuing from any cookie gives exactly the rest of the listing.
        ulong fh = OpenDir(Root);
        var rest = ReadDir(Root, fh, all[40].Off, 65536);
        Assert.Equal(all.Skip(41).Select(r => r.Name), rest.Select(r => r.Name));
        Release(Root, fh, dir: true);
    }

    [Fact]
    public void Readdirplus_counts_a_lookup_per_entry_except_dot_and_dotdot()
    {
        for (int i = 0; i < 30; i++) File.WriteAllText(InSource($"f{i}"), "x");
        var all = ReadDirAll(Root, size: 1024, plus: true);
        Assert.Equal(32, all.Count);
        foreach (var r in all)
        {
            if (r.Name is "." or "..") { Assert.Equal(0UL, r.Plus!.Value.NodeId); continue; }
            Assert.NotEqual(0UL, r.Plus!.Value.NodeId);
            Assert.Equal(1UL, Actor.LookupCountOf(r.Plus.Value.NodeId));
            Assert.Equal(r.Ino, r.Plus.Value.Attr.Ino);
        }
        Assert.Equal(31, Actor.NodeCount);
    }

    [Fact]
    public void Rename_flags_are_the_hosts_noreplace_and_exchange()
    {
        File.WriteAllText(InSource("a"), "A");
        File.WriteAllText(InSource("b"), "B");
        Assert.Equal(Errno.EEXIST, Rename(Root, "a", Root, "b", RenameFlags.NoReplace));
        Assert.Equal(Errno.Ok, Rename(Root, "a", Root, "b", RenameFlags.Exchange));
        Assert.Equal(("B", "A"), (File.ReadAllText(InSource("a")), File.ReadAllText(InSource("b"))));
        var d = MkDir(Root, "d").NodeId;
        Assert.Equal(Errno.Ok, Rename(Root, "a", d, "moved"));
        Assert.Equal("B", File.ReadAllText(InSource("d/moved")));
        Assert.Equal(Errno.ENOENT, Rename(Root, "missing", Root, "x"));
    }

    [Fact]
    public void Setattr_truncates_chmods_and_sets_times_with_and_without_a_handle()
    {
        File.WriteAllBytes(InSource("f"), Pattern(10_000, 3));
        var f = Lookup(Root, "f").NodeId;
        var a = SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Size, Size = 100 });
        Assert.Equal(100UL, a.Size);
        a = SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Mode, Mode = S_IFREG | 0x9ED /* 04755 */ });
        Assert.Equal(S_IFREG | 0x9ED, a.Mode);
        a = SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Atime | SetAttrValid.Mtime, Atime = new FsTime(1_000_000_000, 7), Mtime = new FsTime(1_100_000_000, 123_456_789) });
        Assert.Equal((1_000_000_000UL, 7u, 1_100_000_000UL, 123_456_789u), (a.Atime, a.AtimeNsec, a.Mtime, a.MtimeNsec));

        ulong fh = Open(f);
        a = SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Size | SetAttrValid.Fh, Fh = fh, Size = 5 });
        Assert.Equal(5UL, a.Size);
        a = SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Mtime | SetAttrValid.MtimeNow | SetAttrValid.Fh, Fh = fh });
        Assert.True(a.Mtime > 1_100_000_000UL);
        Assert.Equal(1_000_000_000UL, a.Atime); // omitted
        Release(f, fh);
        Assert.Equal(5, new FileInfo(InSource("f")).Length);

        var d = MkDir(Root, "d").NodeId;
        Assert.Equal(Errno.EISDIR, Err(new SetAttrRequest { Valid = SetAttrValid.Size }, d));
    }

    [Fact]
    public void Xattrs_pass_through_with_the_hosts_errors()
    {
        File.WriteAllText(InSource("f"), "x");
        var f = Lookup(Root, "f").NodeId;
        Ok(new SetXAttrRequest { Name = "user.colour"u8.ToArray(), Value = "blue"u8.ToArray() }, f);
        Assert.Equal(Errno.EEXIST, Err(new SetXAttrRequest { Name = "user.colour"u8.ToArray(), Value = "red"u8.ToArray(), Flags = XAttrFlags.Create }, f));
        Assert.Equal(Errno.ENODATA, Err(new SetXAttrRequest { Name = "user.none"u8.ToArray(), Value = [], Flags = XAttrFlags.Replace }, f));
        var get = Ok(new GetXAttrRequest { Name = "user.colour"u8.ToArray(), Size = 100 }, f);
        Assert.Equal("blue", Encoding.UTF8.GetString(Payload(get)));
        Assert.Equal(Errno.ERANGE, Err(new GetXAttrRequest { Name = "user.colour"u8.ToArray(), Size = 2 }, f));
        var list = Ok(new ListXAttrRequest { Size = 1000 }, f);
        Assert.Contains("user.colour\0", Encoding.UTF8.GetString(Payload(list)));
        Ok(new RemoveXAttrRequest { Name = "user.colour"u8.ToArray() }, f);
        Assert.Equal(Errno.ENODATA, Err(new GetXAttrRequest { Name = "user.colour"u8.ToArray(), Size = 100 }, f));
        Assert.Equal(Errno.ENODATA, Err(new RemoveXAttrRequest { Name = "user.colour"u8.ToArray() }, f));
    }

    [Fact]
    public void Lseek_fallocate_and_copy_file_range_use_the_host_file()
    {
        var (a, fa) = Create(Root, "a");
        var data = Pattern(64 * 1024, 4);
        Write(a.NodeId, fa, 1 << 20, data);
        var seek = Ok(new LseekRequest { Fh = fa, Offset = 0, Whence = 3 /* SEEK_DATA */ }, a.NodeId);
        Assert.Equal(1UL << 20, Decode<FuseLseekOut>(Payload(seek)).Offset);
        Assert.Equal(Errno.ENXIO, Err(new LseekRequest { Fh = fa, Offset = 2 << 20, Whence = 3 }, a.NodeId));

        var (b, fb) = Create(Root, "b");
        var copy = Ok(new CopyFileRangeRequest { FhIn = fa, OffsetIn = 1 << 20, NodeIdOut = b.NodeId, FhOut = fb, OffsetOut = 10, Length = (ulong)data.Length, Is64 = true }, a.NodeId);
        Assert.Equal((ulong)data.Length, Decode<FuseCopyFileRangeOut>(Payload(copy)).BytesCopied);
        Assert.Equal(data, File.ReadAllBytes(InSource("b")).AsSpan(10).ToArray());

        Ok(new FallocateRequest { Fh = fb, Offset = 0, Length = 4 << 20, Mode = 0 }, b.NodeId);
        Assert.Equal(4L << 20, new FileInfo(InSource("b")).Length);
        Release(a.NodeId, fa);
        Release(b.NodeId, fb);
    }

    [Fact]
    public void Unknown_nodes_and_handles_answer_enoent_and_ebadf()
    {
        Assert.Equal(Errno.ENOENT, GetAttrError(999));
        Assert.Equal(Errno.ENOENT, LookupError(999, "x"));
        Assert.Equal(Errno.EBADF, Err(new ReadRequest { Fh = 77, Size = 10 }, Root));
        Assert.Equal(Errno.EBADF, Err(new WriteRequest { Fh = 77, Data = new byte[3] }, Root));
        Assert.Equal(Errno.EBADF, Err(new ReadDirRequest { Fh = 77, Size = 4096 }, Root));
        Forget((12345, 1)); // logged, ignored
    }

    [Fact]
    public void Host_errors_come_back_as_their_errno()
    {
        Directory.CreateDirectory(InSource("d/e"));
        var d = Lookup(Root, "d").NodeId;
        Assert.Equal(Errno.ENOENT, LookupError(Root, "missing"));
        Assert.Equal(Errno.EEXIST, Err(new MkDirRequest { Name = "d", Mode = 0x1ED }, Root));
        Assert.Equal(Errno.ENOTEMPTY, Err(new RmDirRequest { Name = "d" }, Root));
        Assert.Equal(Errno.EISDIR, Err(new UnlinkRequest { Name = "d" }, Root));
        File.WriteAllText(InSource("f"), "x");
        Assert.Equal(Errno.ENOTDIR, Err(new RmDirRequest { Name = "f" }, Root));
        Assert.Equal(Errno.ENAMETOOLONG, LookupError(Root, new string('n', 256)));
        Assert.Equal(Errno.EINVAL, Err(new ReadLinkRequest(), d));
    }

    [Fact]
    public void Statfs_reports_the_host_filesystem()
    {
        var st = Decode<FuseKStatFs>(Payload(Ok(new StatFsRequest(), Root)));
        Assert.True(st.Blocks > 0 && st.Bsize > 0 && st.NameLen == 255, $"{st.Blocks} {st.Bsize} {st.NameLen}");
    }

    [Fact]
    public void Destroy_closes_every_handle_and_node_but_the_root()
    {
        File.WriteAllText(InSource("f"), "x");
        var f = Lookup(Root, "f").NodeId;
        Open(f);
        OpenDir(Root);
        Assert.Equal(2, Actor.OpenHandleCount);
        Ok(new DestroyRequest(), 0);
        Assert.Equal(0, Actor.OpenHandleCount);
        Assert.Equal(1, Actor.NodeCount);
        Assert.Equal(S_IFDIR, GetAttr(Root).Mode & 0xF000);
    }

    private static string? ReadLinkOrNull(string path)
    {
        try { return new FileInfo(path).LinkTarget; } catch (IOException) { return null; }
    }

    private static string Shell(string command)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output.Trim();
    }
}

/// <summary>The same with io-threads = 0: every host call on the actor, as before the I/O pool.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughFsInlineIoTests() : PassthroughFsTests(new PassthroughOptions { IoThreads = 0 });
