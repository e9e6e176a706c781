using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

public class MemoryFsDirectoryTests : MemoryFsTestKit
{
    [Fact]
    public void Readdir_starts_with_dot_and_dotdot_and_uses_each_entrys_own_cookie()
    {
        var d = MkDir(Root, "d");
        var a = MkNod(d.NodeId, "a");
        var sub = MkDir(d.NodeId, "sub");
        var list = ReadDirAll(d.NodeId);
        Assert.Equal([".", "..", "a", "sub"], list.Select(r => r.Name));
        Assert.Equal([1UL, 2UL, 3UL, 4UL], list.Select(r => r.Off));
        Assert.Equal(d.NodeId, list[0].Ino);
        Assert.Equal(Root, list[1].Ino);
        Assert.Equal(a.NodeId, list[2].Ino);
        Assert.Equal(sub.NodeId, list[3].Ino);
        Assert.Equal(4u /* DT_DIR */, list[0].Type);
        Assert.Equal(8u /* DT_REG */, list[2].Type);

        // Continuing after a cookie resumes right behind it.
        ulong fh = OpenDir(d.NodeId);
        Assert.Equal(["..", "a", "sub"], ReadDir(d.NodeId, fh, 1, 4096).Select(r => r.Name));
        Assert.Equal(["sub"], ReadDir(d.NodeId, fh, 3, 4096).Select(r => r.Name));
        Assert.Empty(ReadDir(d.NodeId, fh, 4, 4096));
        Assert.Equal(Errno.ENOTDIR, Err(new ReadDirRequest { Size = 4096 }, a.NodeId));
    }

    [Fact]
    public void Readdir_of_100k_entries_in_small_pages_lists_every_name_exactly_once()
    {
        const int count = 100_000;
        var d = MkDir(Root, "big").NodeId;
        // Pipeline the creates: the TestActorRef runs them synchronously; collect the answers afterwards.
        var requests = new MkNodRequest[count];
        for (int i = 0; i < count; i++)
        {
            requests[i] = new MkNodRequest { Name = $"file-{i:D6}", Mode = S_IFREG | 0x1A4 };
            Send(requests[i], d);
        }
        var answers = ReceiveN(count, TimeSpan.FromSeconds(20));
        Assert.All(requests, r => Assert.Equal(Errno.Ok, r.Error));
        Assert.Equal(count, answers.Count);
        Assert.Equal(2u, GetAttr(d).Nlink);

        var list = ReadDirAll(d, size: 1024);
        var names = list.Select(r => r.Name).Where(n => n is not "." and not "..").ToList();
        Assert.Equal(count, names.Count);
        Assert.Equal(count, names.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"file-{i:D6}"), names); // creation order = cookie order
    }

    [Fact]
    public void Readdir_offsets_stay_stable_while_entries_are_removed_and_added_between_pages()
    {
        var d = MkDir(Root, "churn").NodeId;
        var original = Enumerable.Range(0, 600).Select(i => $"o{i}").ToList();
        foreach (var n in original) MkNod(d, n);
        var live = new List<string>(original);
        var touched = new HashSet<string>(); // removed (maybe re-added) at some point
        var rng = new Random(99);
        int added = 0;

        ulong fh = OpenDir(d);
        ulong offset = 0;
        var seen = new List<string>();
        int pages = 0;
        while (true)
        {
            var page = ReadDir(d, fh, offset, 256); // a handful of entries per page
            if (page.Count == 0) break;
            Assert.True(++pages < 2000, $"listing does not end: offset {offset}, page {string.Join(",", page.Select(p => p.Name + "@" + p.Off))}");
            seen.AddRange(page.Select(r => r.Name));
            offset = page[^1].Off;
            if (pages > 80) continue; // churn during the first ~640 records only, so the listing can reach its end
            for (int k = 0; k < 4; k++)
            {
                // Remove entries both behind and ahead of the cursor, including the one the cursor sits on.
                string last = page[^1].Name;
                var victim = k == 0 && live.Contains(last) ? last : live[rng.Next(live.Count)];
                Assert.Equal(Errno.Ok, Unlink(d, victim));
                live.Remove(victim);
                touched.Add(victim);
                var fresh = $"n{added++}";
                MkNod(d, fresh);
                live.Add(fresh);
                if (rng.Next(4) == 0)
                {
                    // Re-create a removed name: a new entry with a new cookie.
                    MkNod(d, victim);
                    live.Add(victim);
                }
            }
        }
        var entries = seen.Where(n => n is not "." and not "..").ToList();
        foreach (var name in original.Where(n => !touched.Contains(n)))
            Assert.Equal(1, entries.Count(e => e == name));
        // Entries that existed throughout were never duplicated; anything seen twice must be a re-created name.
        foreach (var g in entries.GroupBy(e => e).Where(g => g.Count() > 1))
            Assert.Contains(g.Key, touched);
    }

    [Fact]
    public void Readdirplus_counts_a_lookup_only_for_entries_that_fit_and_not_for_dot_entries()
    {
        var d = MkDir(Root, "plus").NodeId;
        var ids = new List<ulong>();
        for (int i = 0; i < 20; i++)
        {
            var e = MkNod(d, $"p{i:D2}");
            ids.Add(e.NodeId);
        }
        Forget(ids.Select(id => (id, 1UL)).ToArray()); // start from zero kernel references
        Assert.All(ids, id => Assert.Equal(0UL, Actor.LookupCountOf(id)));
        ulong dirLookups = Actor.LookupCountOf(d);

        ulong fh = OpenDir(d);
        // Room for ".", ".." and five 3-character names: each record is 152 + name, padded to 8.
        var page = ReadDir(d, fh, 0, 2 * 160 + 5 * 160 + 100, plus: true);
        Assert.Equal([".", "..", "p00", "p01", "p02", "p03", "p04"], page.Select(r => r.Name));
        Assert.Equal(0UL, page[0].Plus!.Value.NodeId);
        Assert.Equal(d, page[0].Plus!.Value.Attr.Ino);
        Assert.Equal(0UL, page[1].Plus!.Value.NodeId);
        Assert.Equal(S_IFDIR, page[1].Plus!.Value.Attr.Mode & 0xF000);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(ids[i], page[2 + i].Plus!.Value.NodeId);
            Assert.Equal(S_IFREG | 0x1A4, page[2 + i].Plus!.Value.Attr.Mode);
        }
        Assert.All(ids.Take(5), id => Assert.Equal(1UL, Actor.LookupCountOf(id)));
        Assert.All(ids.Skip(5), id => Assert.Equal(0UL, Actor.LookupCountOf(id)));
        Assert.Equal(dirLookups, Actor.LookupCountOf(d));

        // Observable through lifetime: removing all names frees exactly the uncounted ones.
        foreach (var i in Enumerable.Range(0, 20)) Assert.Equal(Errno.Ok, Unlink(d, $"p{i:D2}"));
        Assert.All(ids.Take(5), id => Assert.Equal(0u, GetAttr(id).Nlink));
        Assert.All(ids.Skip(5), id => Assert.Equal(Errno.ENOENT, GetAttrError(id)));
        Forget(ids.Take(5).Select(id => (id, 1UL)).ToArray());
        Assert.All(ids.Take(5), id => Assert.Equal(Errno.ENOENT, GetAttrError(id)));
    }

    [Fact]
    public void Mkdir_and_rmdir_keep_parent_nlink_at_two_plus_subdirectories()
    {
        var a = MkDir(Root, "a");
        Assert.Equal(2u, a.Attr.Nlink);
        Assert.Equal(S_IFDIR | 0x1ED, a.Attr.Mode);
        Assert.Equal(3u, GetAttr(Root).Nlink);
        MkDir(a.NodeId, "b");
        MkDir(a.NodeId, "c");
        MkNod(a.NodeId, "f");
        Assert.Equal(4u, GetAttr(a.NodeId).Nlink);
        Assert.Equal(Errno.ENOTEMPTY, RmDir(Root, "a"));
        Assert.Equal(Errno.ENOTDIR, RmDir(a.NodeId, "f"));
        Assert.Equal(Errno.EISDIR, Unlink(a.NodeId, "b"));
        Assert.Equal(Errno.ENOENT, RmDir(a.NodeId, "zz"));
        var b = Lookup(a.NodeId, "b").NodeId;
        Assert.Equal(Errno.Ok, RmDir(a.NodeId, "b"));
        Assert.Equal(3u, GetAttr(a.NodeId).Nlink);
        Assert.Equal(0u, GetAttr(b).Nlink); // still looked up, so still there
        Assert.Equal(Errno.ENOENT, Err(new MkNodRequest { Name = "x", Mode = S_IFREG }, b)); // creating in a removed directory
    }

    [Fact]
    public void Parent_mtime_and_ctime_change_when_entries_are_added()
    {
        var d = MkDir(Root, "d").NodeId;
        SetAttr(d, new SetAttrRequest { Valid = SetAttrValid.Mtime, Mtime = new FsTime(1000, 0) });
        MkNod(d, "x");
        Assert.True(GetAttr(d).Mtime > 1_600_000_000);
    }

    [Fact]
    public void Setgid_directory_passes_its_group_and_the_bit_to_new_directories()
    {
        var d = MkDir(Root, "shared", mode: 0x400 | 0x1FD, gid: 500).NodeId; // 2775
        Assert.Equal(500u, GetAttr(d).Gid);
        var f = MkNod(d, "f");
        Assert.Equal(500u, f.Attr.Gid);
        Assert.Equal(0u, f.Attr.Mode & 0x400);
        var sub = MkDir(d, "sub", mode: 0x1ED, gid: 1000);
        Assert.Equal(500u, sub.Attr.Gid);
        Assert.Equal(S_IFDIR | 0x400u | 0x1ED, sub.Attr.Mode);
        var plain = MkNod(Root, "plain");
        Assert.Equal(Gid, plain.Attr.Gid);
    }

    [Fact]
    public void Rename_moves_a_file_and_updates_times()
    {
        var a = MkDir(Root, "a").NodeId;
        var b = MkDir(Root, "b").NodeId;
        var f = MkNod(a, "f").NodeId;
        SetAttr(f, new SetAttrRequest { Valid = SetAttrValid.Ctime, Ctime = new FsTime(1000, 0) });
        SetAttr(a, new SetAttrRequest { Valid = SetAttrValid.Mtime, Mtime = new FsTime(1000, 0) });
        Assert.Equal(Errno.Ok, Rename(a, "f", b, "g"));
        Assert.Equal(Errno.ENOENT, LookupError(a, "f"));
        Assert.Equal(f, Lookup(b, "g").NodeId);
        Assert.True(GetAttr(f).Ctime > 1_600_000_000);
        Assert.True(GetAttr(a).Mtime > 1_600_000_000);
        Assert.Equal(Errno.ENOENT, Rename(a, "f", b, "h"));
    }

    [Fact]
    public void Rename_noreplace_refuses_an_existing_target_with_EEXIST()
    {
        var x = MkNod(Root, "x").NodeId;
        var y = MkNod(Root, "y").NodeId;
        Assert.Equal(Errno.EEXIST, Rename(Root, "x", Root, "y", RenameFlags.NoReplace));
        Assert.Equal(x, Lookup(Root, "x").NodeId);
        Assert.Equal(y, Lookup(Root, "y").NodeId);
        Assert.Equal(Errno.Ok, Rename(Root, "x", Root, "z", RenameFlags.NoReplace));
        Assert.Equal(Errno.EINVAL, Rename(Root, "z", Root, "w", RenameFlags.NoReplace | RenameFlags.Exchange));
        Assert.Equal(Errno.EINVAL, Rename(Root, "z", Root, "w", RenameFlags.Whiteout | RenameFlags.Exchange));
    }

    [Fact]
    public void Rename_whiteout_leaves_a_character_device_0_0_at_the_old_name()
    {
        var f = MkNod(Root, "f").NodeId;
        Assert.Equal(Errno.Ok, Rename(Root, "f", Root, "g", RenameFlags.Whiteout));
        Assert.Equal(f, Lookup(Root, "g").NodeId);
        var mark = Lookup(Root, "f");
        Assert.NotEqual(f, mark.NodeId);
        Assert.Equal(ModeBits.Char, mark.Attr.Mode & ModeBits.TypeMask);
        Assert.Equal(0u, mark.Attr.Mode & 0xFFF);
        Assert.Equal(0u, mark.Attr.Rdev);
        // With NOREPLACE an existing target is still refused, and nothing is left behind.
        MkNod(Root, "h");
        Assert.Equal(Errno.EEXIST, Rename(Root, "g", Root, "h", RenameFlags.Whiteout | RenameFlags.NoReplace));
        Assert.Equal(f, Lookup(Root, "g").NodeId);
    }

    [Fact]
    public void Rename_exchange_swaps_two_names_and_needs_both_to_exist()
    {
        var d = MkDir(Root, "d").NodeId;
        var sub = MkDir(d, "sub").NodeId;
        var f = MkNod(Root, "f").NodeId;
        Assert.Equal(Errno.ENOENT, Rename(Root, "f", Root, "missing", RenameFlags.Exchange));
        Assert.Equal(3u, GetAttr(Root).Nlink);
        Assert.Equal(3u, GetAttr(d).Nlink);

        Assert.Equal(Errno.Ok, Rename(Root, "f", d, "sub", RenameFlags.Exchange));
        Assert.Equal(sub, Lookup(Root, "f").NodeId);
        Assert.Equal(f, Lookup(d, "sub").NodeId);
        // The directory moved from d to the root: nlink follows.
        Assert.Equal(4u, GetAttr(Root).Nlink);
        Assert.Equal(2u, GetAttr(d).Nlink);
        var dots = ReadDirAll(sub);
        Assert.Equal(Root, dots.Single(r => r.Name == "..").Ino);

        // Exchanging a directory with something inside itself would cut a loop.
        MkNod(sub, "inner");
        Assert.Equal(Errno.EINVAL, Rename(Root, "f", sub, "inner", RenameFlags.Exchange));
    }

    [Fact]
    public void Rename_replaces_a_file_and_the_replaced_inode_lives_while_looked_up()
    {
        var (src, fh) = Create(Root, "src");
        Write(src.NodeId, fh, 0, [1, 2, 3]);
        var (dst, fh2) = Create(Root, "dst");
        Write(dst.NodeId, fh2, 0, [9, 9]);
        Assert.Equal(Errno.Ok, Rename(Root, "src", Root, "dst"));
        Assert.Equal(src.NodeId, Lookup(Root, "dst").NodeId);
        Assert.Equal(Errno.ENOENT, LookupError(Root, "src"));
        // The replaced file is unlinked but still open and looked up.
        Assert.Equal(0u, GetAttr(dst.NodeId).Nlink);
        Assert.Equal(new byte[] { 9, 9 }, Read(dst.NodeId, fh2, 0, 10));
        Release(dst.NodeId, fh2);
        Forget((dst.NodeId, 1));
        Assert.Equal(Errno.ENOENT, GetAttrError(dst.NodeId));
    }

    [Fact]
    public void Rename_checks_directory_types_emptiness_and_loops()
    {
        var d1 = MkDir(Root, "d1").NodeId;
        var d2 = MkDir(Root, "d2").NodeId;
        MkNod(Root, "file");
        MkNod(d2, "content");
        var child = MkDir(d1, "child").NodeId;

        Assert.Equal(Errno.ENOTEMPTY, Rename(Root, "d1", Root, "d2"));
        Assert.Equal(Errno.ENOTDIR, Rename(Root, "d1", Root, "file"));
        Assert.Equal(Errno.EISDIR, Rename(Root, "file", Root, "d1"));
        Assert.Equal(Errno.EINVAL, Rename(Root, "d1", child, "x"));
        Assert.Equal(Errno.EINVAL, Rename(Root, "d1", d1, "x"));
        Assert.Equal(Errno.ENOTDIR, Rename(Root, "d2", Lookup(Root, "file").NodeId, "x"));
        Assert.Equal(Errno.ENOENT, Rename(Root, "d2", 987_654, "x"));

        // Replacing an empty directory works and moves the subdirectory count.
        var empty = MkDir(Root, "empty").NodeId;
        Assert.Equal(5u, GetAttr(Root).Nlink); // d1, d2, empty
        Assert.Equal(Errno.Ok, Rename(d1, "child", Root, "empty"));
        Assert.Equal(child, Lookup(Root, "empty").NodeId);
        Assert.Equal(0u, GetAttr(empty).Nlink);
        Assert.Equal(5u, GetAttr(Root).Nlink); // d1, d2, empty(=child)
        Assert.Equal(2u, GetAttr(d1).Nlink);
        Assert.Equal(Root, ReadDirAll(child).Single(r => r.Name == "..").Ino);

        // Renaming a name onto another name of the same file does nothing.
        var f = Lookup(Root, "file").NodeId;
        Link(f, Root, "alias");
        Assert.Equal(Errno.Ok, Rename(Root, "file", Root, "alias"));
        Assert.Equal(f, Lookup(Root, "file").NodeId);
        Assert.Equal(2u, GetAttr(f).Nlink);
    }

    [Fact]
    public void Hard_links_share_data_and_count_names()
    {
        var (e, fh) = Create(Root, "orig");
        Write(e.NodeId, fh, 0, [4, 5, 6]);
        var d = MkDir(Root, "d").NodeId;
        var l = Link(e.NodeId, d, "link");
        Assert.Equal(e.NodeId, l.NodeId);
        Assert.Equal(2u, l.Attr.Nlink);
        Assert.Equal(e.NodeId, Lookup(d, "link").NodeId);
        Assert.Equal(Errno.EEXIST, Err(new LinkRequest { OldNodeId = e.NodeId, NewName = "link" }, d));
        Assert.Equal(Errno.EPERM, Err(new LinkRequest { OldNodeId = d, NewName = "dirlink" }, Root));
        Assert.Equal(Errno.Ok, Unlink(Root, "orig"));
        Assert.Equal(1u, GetAttr(e.NodeId).Nlink);
        Assert.Equal(new byte[] { 4, 5, 6 }, Read(e.NodeId, fh, 0, 10));
    }

    [Fact]
    public void Symlink_target_reads_back()
    {
        var s = Symlink(Root, "ln", "../some/where/ü");
        Assert.Equal(S_IFLNK | 0x1FF, s.Attr.Mode);
        Assert.Equal((ulong)Encoding.UTF8.GetByteCount("../some/where/ü"), s.Attr.Size);
        var r = Ok(new ReadLinkRequest(), s.NodeId);
        Assert.Equal("../some/where/ü", Encoding.UTF8.GetString(Payload(r)));
        Assert.Equal(Errno.EINVAL, Err(new ReadLinkRequest(), Root));
        Assert.Equal(Errno.ENOENT, Err(new SymlinkRequest { Name = "empty", Target = ""u8.ToArray() }, Root));
        Assert.Equal(10u /* DT_LNK */, ReadDirAll(Root).Single(x => x.Name == "ln").Type);
    }

    [Fact]
    public void Mknod_makes_fifos_devices_and_regular_files()
    {
        var fifo = MkNod(Root, "fifo", S_IFIFO | 0x1A4, rdev: 123);
        Assert.Equal(S_IFIFO | 0x1A4, fifo.Attr.Mode);
        Assert.Equal(0u, fifo.Attr.Rdev);
        var chr = MkNod(Root, "null", S_IFCHR | 0x1B6, rdev: (1 << 8) | 3);
        Assert.Equal(S_IFCHR | 0x1B6, chr.Attr.Mode);
        Assert.Equal((1u << 8) | 3, chr.Attr.Rdev);
        var reg = MkNod(Root, "reg", 0x1A4);
        Assert.Equal(S_IFREG | 0x1A4, reg.Attr.Mode);
        Assert.Equal(Errno.EINVAL, Err(new MkNodRequest { Name = "bad", Mode = S_IFDIR | 0x1ED }, Root));
    }
}
