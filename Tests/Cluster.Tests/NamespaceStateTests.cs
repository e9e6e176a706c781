using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Namespace;
using MessagePack;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>
/// <see cref="NamespaceState"/> keeps the POSIX rules of a directory tree, reports what each change did in
/// <see cref="NamespaceState.Changes"/>, and is deterministic: the same mutations give the same state, and a
/// snapshot is a faithful copy of it.
/// </summary>
public sealed class NamespaceStateTests
{
    private const string V = "v";
    private const ulong Root = NamespaceState.RootIno;
    private const uint File = ModeBits.Regular | 0x1A4; // 0644
    private const uint Dir = ModeBits.Directory | 0x1ED; // 0755

    private readonly NamespaceState _s = new();
    private long _time = 1_000;

    private NsResult Do(INamespaceMutation m, NamespaceState.Changes? changes = null) =>
        _s.Apply(m.WithTime(++_time), changes ?? new NamespaceState.Changes());

    private NsResult Make(ulong parent, byte[] name, uint mode, byte[]? target = null, uint uid = 0, uint gid = 0, bool unnamed = false) =>
        Do(new NsMakeNode(V, 0, parent, name, mode, uid, gid, 0, target, unnamed, "n1", false));

    private NodeAttr MakeOk(ulong parent, string name, uint mode = File, uint uid = 0, uint gid = 0)
    {
        var r = Make(parent, N(name), mode, uid: uid, gid: gid);
        Assert.Equal(0, r.Errno);
        return r.Attr!;
    }

    private NsResult Remove(ulong parent, string name, bool dir = false) => Do(new NsRemove(V, 0, parent, N(name), dir, "n1"));

    private NsResult Rename(ulong parent, string name, ulong newParent, string newName, uint flags = 0, NamespaceState.Changes? changes = null) =>
        Do(new NsRename(V, 0, parent, N(name), newParent, N(newName), flags, 0, 0, "n1"), changes);

    private NodeAttr Attr(ulong ino)
    {
        var r = _s.GetAttr(ino);
        Assert.Equal(0, r.Errno);
        return r.Attr!;
    }

    private ulong Ino(ulong parent, string name)
    {
        var r = _s.Lookup(parent, N(name));
        Assert.Equal(0, r.Errno);
        return r.Attr!.Ino;
    }

    private static void AssertErrno(Errno expected, NsResult r) => Assert.Equal((int)expected, r.Errno);

    private string[] Names(ulong dir) => _s.ReadDir(dir).Entries!.Select(e => System.Text.Encoding.UTF8.GetString(e.Name)).ToArray();

    // ---------------------------------------------------------------- names and errors

    [Fact]
    public void Created_nodes_are_found_by_lookup_and_listed_in_creation_order()
    {
        var c = MakeOk(Root, "c");
        var a = MakeOk(Root, "a", Dir);
        var b = MakeOk(Root, "b");
        Assert.Equal(c, _s.Lookup(Root, N("c")).Attr);
        Assert.Equal(a, _s.Lookup(Root, N("a")).Attr);
        Assert.Equal(new[] { "c", "a", "b" }, Names(Root));
        var listing = _s.ReadDir(Root);
        Assert.Equal(new[] { c.Ino, a.Ino, b.Ino }, listing.Entries!.Select(e => e.Ino));
        Assert.Equal(Dir, listing.Entries![1].Mode);
        Assert.Equal(Root, listing.Count); // the parent of the root is the root
        Assert.Equal(Root, _s.ReadDir(a.Ino).Count);

        // A name removed and made again goes to the end.
        Assert.Equal(0, Remove(Root, "c").Errno);
        MakeOk(Root, "c");
        Assert.Equal(new[] { "a", "b", "c" }, Names(Root));
        // The first "c" has no name left but is still an inode (until an NsFree): root, old c, a, b, new c.
        Assert.Equal(5UL, _s.StatFs().Count);
    }

    [Fact]
    public void Errors_are_the_posix_ones()
    {
        var dir = MakeOk(Root, "d", Dir);
        var file = MakeOk(Root, "f");
        MakeOk(dir.Ino, "inner");
        var dirBefore = Attr(dir.Ino);

        AssertErrno(Errno.EEXIST, Make(Root, N("f"), File));
        AssertErrno(Errno.EEXIST, Make(Root, N("d"), Dir));
        AssertErrno(Errno.ENOENT, _s.Lookup(Root, N("missing")));
        AssertErrno(Errno.ENOENT, Make(999, N("x"), File));
        AssertErrno(Errno.ENOENT, Remove(Root, "missing"));
        AssertErrno(Errno.ENOENT, _s.GetAttr(999));
        AssertErrno(Errno.ENOTDIR, Make(file.Ino, N("x"), File));
        AssertErrno(Errno.ENOTDIR, _s.Lookup(file.Ino, N("x")));
        AssertErrno(Errno.ENOTDIR, _s.ReadDir(file.Ino));
        AssertErrno(Errno.ENOTDIR, Remove(Root, "f", dir: true));
        AssertErrno(Errno.ENOTEMPTY, Remove(Root, "d", dir: true));
        AssertErrno(Errno.EISDIR, Remove(Root, "d", dir: false));
        AssertErrno(Errno.EINVAL, _s.ReadLink(file.Ino));
        AssertErrno(Errno.ENOENT, Make(Root, N("l"), ModeBits.Symlink | 0x1FF, target: null));

        // A failed mutation changes nothing.
        Assert.Equal(new[] { "d", "f" }, Names(Root));
        Assert.Equal(dirBefore, Attr(dir.Ino));
    }

    [Fact]
    public void Names_of_255_bytes_are_fine_and_256_is_ENAMETOOLONG()
    {
        var ok = new string('x', 255);
        var tooLong = new string('y', 256);
        MakeOk(Root, ok);
        Assert.Equal(0, _s.Lookup(Root, N(ok)).Errno);
        AssertErrno(Errno.ENAMETOOLONG, Make(Root, N(tooLong), File));
        AssertErrno(Errno.ENAMETOOLONG, _s.Lookup(Root, N(tooLong)));
        AssertErrno(Errno.ENAMETOOLONG, Rename(Root, ok, Root, tooLong));
        AssertErrno(Errno.ENAMETOOLONG, Do(new NsLink(V, 0, Ino(Root, ok), Root, N(tooLong), "n1")));
        AssertErrno(Errno.ENAMETOOLONG, Remove(Root, tooLong));
    }

    [Fact]
    public void Names_that_are_not_utf8_are_kept_byte_for_byte()
    {
        byte[] e8 = [0xE8], e9 = [0xE9];
        var a = Make(Root, e8, File).Attr!;
        var b = Make(Root, e9, File).Attr!;
        Assert.NotEqual(a.Ino, b.Ino);
        Assert.Equal(a.Ino, _s.Lookup(Root, e8).Attr!.Ino);
        Assert.Equal(b.Ino, _s.Lookup(Root, e9).Attr!.Ino);
        AssertErrno(Errno.ENOENT, _s.Lookup(Root, [0xEA]));
        Assert.Equal(new[] { e8, e9 }, _s.ReadDir(Root).Entries!.Select(e => e.Name));
        Assert.Equal(0, Do(new NsSetXattr(V, 0, a.Ino, e8, [1], 0, "n1")).Errno);
        Assert.Equal(0, Do(new NsSetXattr(V, 0, a.Ino, e9, [2], 0, "n1")).Errno);
        Assert.Equal(new byte[] { 1 }, _s.GetXattr(a.Ino, e8).Bytes);
        Assert.Equal(new byte[] { 2 }, _s.GetXattr(a.Ino, e9).Bytes);
    }

    // ---------------------------------------------------------------- link counts

    [Fact]
    public void Directory_link_counts_follow_subdirectories()
    {
        Assert.Equal(2u, Attr(Root).Nlink);
        var a = MakeOk(Root, "a", Dir);
        var b = MakeOk(Root, "b", Dir);
        Assert.Equal(2u, a.Nlink);
        Assert.Equal(4u, Attr(Root).Nlink);
        var sub = MakeOk(a.Ino, "sub", Dir);
        MakeOk(a.Ino, "file"); // files do not count
        Assert.Equal(3u, Attr(a.Ino).Nlink);

        // Moving a directory across moves one link from the old parent to the new.
        Assert.Equal(0, Rename(a.Ino, "sub", b.Ino, "sub").Errno);
        Assert.Equal(2u, Attr(a.Ino).Nlink);
        Assert.Equal(3u, Attr(b.Ino).Nlink);
        Assert.Equal(b.Ino, _s.ReadDir(sub.Ino).Count); // its ".." follows
        // Within one directory nothing moves.
        Assert.Equal(0, Rename(b.Ino, "sub", b.Ino, "sub2").Errno);
        Assert.Equal(3u, Attr(b.Ino).Nlink);

        Assert.Equal(0, Remove(b.Ino, "sub2", dir: true).Errno);
        Assert.Equal(2u, Attr(b.Ino).Nlink);
        AssertErrno(Errno.ENOENT, Make(sub.Ino, N("x"), File)); // a removed directory takes no new names
        Assert.Equal(0, Remove(Root, "b", dir: true).Errno);
        Assert.Equal(3u, Attr(Root).Nlink);
    }

    [Fact]
    public void Hard_links_count_and_directories_cannot_be_linked()
    {
        var f = MakeOk(Root, "f");
        var d = MakeOk(Root, "d", Dir);
        var r = Do(new NsLink(V, 0, f.Ino, d.Ino, N("g"), "n1"));
        Assert.Equal(0, r.Errno);
        Assert.Equal(2u, r.Attr!.Nlink);
        Assert.Equal(f.Ino, Ino(d.Ino, "g"));
        AssertErrno(Errno.EPERM, Do(new NsLink(V, 0, d.Ino, Root, N("d2"), "n1")));
        AssertErrno(Errno.EEXIST, Do(new NsLink(V, 0, f.Ino, Root, N("d"), "n1")));
        AssertErrno(Errno.ENOENT, Do(new NsLink(V, 0, 999, Root, N("x"), "n1")));

        var changes = new NamespaceState.Changes();
        Assert.Equal(0, Do(new NsRemove(V, 0, Root, N("f"), false, "n1"), changes).Errno);
        Assert.Equal(1u, Attr(f.Ino).Nlink);
        Assert.Empty(changes.Unlinked);
        Assert.Empty(_s.Orphans);
    }

    // ---------------------------------------------------------------- rename

    [Fact]
    public void Rename_replacing_a_file_drops_the_victims_link_and_reports_it_unlinked()
    {
        var a = MakeOk(Root, "a");
        var b = MakeOk(Root, "b");
        var changes = new NamespaceState.Changes();
        Assert.Equal(0, Rename(Root, "a", Root, "b", changes: changes).Errno);
        Assert.Equal(a.Ino, Ino(Root, "b"));
        AssertErrno(Errno.ENOENT, _s.Lookup(Root, N("a")));
        Assert.Equal(0u, Attr(b.Ino).Nlink);
        Assert.Equal(new[] { b.Ino }, changes.Unlinked);
        Assert.Equal(new[] { b.Ino }, _s.Orphans);
        Assert.Equal(new[] { "b" }, Names(Root));
    }

    [Fact]
    public void Rename_checks_types_and_emptiness_of_the_victim()
    {
        var d = MakeOk(Root, "d", Dir);
        MakeOk(Root, "e", Dir);
        MakeOk(Root, "f");
        MakeOk(d.Ino, "inner");
        AssertErrno(Errno.ENOTDIR, Rename(Root, "d", Root, "f"));
        AssertErrno(Errno.EISDIR, Rename(Root, "f", Root, "e"));
        AssertErrno(Errno.ENOTEMPTY, Rename(Root, "e", Root, "d"));
        AssertErrno(Errno.ENOENT, Rename(Root, "missing", Root, "x"));
        // An empty directory can be replaced by a directory: one directory less in the root.
        Assert.Equal(0, Rename(Root, "d", Root, "e").Errno);
        Assert.Equal(3u, Attr(Root).Nlink);
        Assert.Equal(d.Ino, Ino(Root, "e"));
    }

    [Fact]
    public void Rename_of_a_directory_into_its_own_subtree_is_EINVAL()
    {
        var a = MakeOk(Root, "a", Dir);
        var b = MakeOk(a.Ino, "b", Dir);
        var c = MakeOk(b.Ino, "c", Dir);
        AssertErrno(Errno.EINVAL, Rename(Root, "a", c.Ino, "a"));
        AssertErrno(Errno.EINVAL, Rename(Root, "a", a.Ino, "self"));
        AssertErrno(Errno.EINVAL, Rename(Root, "a", b.Ino, "x", flags: 2 | 1)); // NOREPLACE with EXCHANGE
        Assert.Equal(a.Ino, Ino(Root, "a"));
        // Moving a deeper directory up is fine.
        Assert.Equal(0, Rename(b.Ino, "c", Root, "c").Errno);
    }

    [Fact]
    public void Rename_noreplace_refuses_an_existing_target()
    {
        var a = MakeOk(Root, "a");
        var b = MakeOk(Root, "b");
        AssertErrno(Errno.EEXIST, Rename(Root, "a", Root, "b", flags: 1));
        Assert.Equal(a.Ino, Ino(Root, "a"));
        Assert.Equal(b.Ino, Ino(Root, "b"));
        Assert.Equal(0, Rename(Root, "a", Root, "c", flags: 1).Errno);
    }

    [Fact]
    public void Rename_exchange_swaps_two_names_and_directories_change_parents()
    {
        var d1 = MakeOk(Root, "d1", Dir);
        var d2 = MakeOk(Root, "d2", Dir);
        var sub = MakeOk(d1.Ino, "x", Dir);
        var file = MakeOk(d2.Ino, "y");
        AssertErrno(Errno.ENOENT, Rename(d1.Ino, "x", d2.Ino, "missing", flags: 2));

        var changes = new NamespaceState.Changes();
        Assert.Equal(0, Rename(d1.Ino, "x", d2.Ino, "y", flags: 2, changes: changes).Errno);
        Assert.Equal(file.Ino, Ino(d1.Ino, "x"));
        Assert.Equal(sub.Ino, Ino(d2.Ino, "y"));
        Assert.Equal(d2.Ino, _s.ReadDir(sub.Ino).Count); // the directory's parent moved
        Assert.Equal(2u, Attr(d1.Ino).Nlink);
        Assert.Equal(3u, Attr(d2.Ino).Nlink);
        Assert.Equal(1u, Attr(file.Ino).Nlink);
        Assert.Empty(changes.Unlinked);
        Assert.All(new[] { d1.Ino, d2.Ino, sub.Ino, file.Ino }, i => Assert.Contains(i, changes.Inodes));

        // Two directories across: both parents change, link counts stay.
        var sub2 = MakeOk(d1.Ino, "z", Dir);
        Assert.Equal(0, Rename(d1.Ino, "z", d2.Ino, "y", flags: 2).Errno);
        Assert.Equal(sub.Ino, Ino(d1.Ino, "z"));
        Assert.Equal(sub2.Ino, Ino(d2.Ino, "y"));
        Assert.Equal(d1.Ino, _s.ReadDir(sub.Ino).Count);
        Assert.Equal(d2.Ino, _s.ReadDir(sub2.Ino).Count);
        Assert.Equal(3u, Attr(d1.Ino).Nlink);
        Assert.Equal(3u, Attr(d2.Ino).Nlink);

        // Exchanging a directory with a name inside itself would cut a loop.
        MakeOk(sub.Ino, "deep");
        AssertErrno(Errno.EINVAL, Rename(d1.Ino, "z", sub.Ino, "deep", flags: 2));
    }

    [Fact]
    public void Rename_whiteout_leaves_a_character_device_0_0_under_the_old_name()
    {
        var a = MakeOk(Root, "a");
        Assert.Equal(0, Do(new NsRename(V, 0, Root, N("a"), Root, N("b"), 4, 7, 8, "n1")).Errno);
        Assert.Equal(a.Ino, Ino(Root, "b"));
        var mark = _s.Lookup(Root, N("a")).Attr!;
        Assert.NotEqual(a.Ino, mark.Ino);
        Assert.Equal(ModeBits.Char, mark.Mode & ModeBits.TypeMask);
        Assert.Equal(0u, mark.Rdev);
        Assert.Equal(1u, mark.Nlink);
        Assert.Equal((7u, 8u), (mark.Uid, mark.Gid));
        AssertErrno(Errno.EINVAL, Rename(Root, "b", Root, "a", flags: 4 | 2));
    }

    [Fact]
    public void Rename_onto_another_name_of_the_same_file_does_nothing()
    {
        var f = MakeOk(Root, "a");
        Assert.Equal(0, Do(new NsLink(V, 0, f.Ino, Root, N("b"), "n1")).Errno);
        var before = Attr(f.Ino);
        var changes = new NamespaceState.Changes();
        Assert.Equal(0, Rename(Root, "a", Root, "b", changes: changes).Errno);
        Assert.Equal(new[] { "a", "b" }, Names(Root));
        Assert.Equal(before, Attr(f.Ino));
        Assert.True(changes.IsEmpty);
    }

    // ---------------------------------------------------------------- orphans

    [Fact]
    public void An_unlinked_file_stays_with_no_links_until_freed_and_a_linked_one_cannot_be_freed()
    {
        var f = MakeOk(Root, "f");
        Assert.Equal(0, Do(new NsWritten(V, 0, f.Ino, 5000, false, "n1", 0)).Errno);
        AssertErrno(Errno.EBUSY, Do(new NsFree(V, 0, f.Ino)));
        AssertErrno(Errno.EBUSY, Do(new NsFree(V, 0, Root)));
        AssertErrno(Errno.ENOENT, Do(new NsFree(V, 0, 999)));

        var changes = new NamespaceState.Changes();
        Assert.Equal(0, Do(new NsRemove(V, 0, Root, N("f"), false, "n1"), changes).Errno);
        Assert.Equal(new[] { f.Ino }, changes.Unlinked);
        var orphan = Attr(f.Ino);
        Assert.Equal(0u, orphan.Nlink);
        Assert.Equal(5000UL, orphan.Size);
        Assert.Equal(new[] { f.Ino }, _s.Orphans);
        Assert.Equal(5000UL, _s.SizeOf(f.Ino));

        Assert.Equal(0, Do(new NsFree(V, 0, f.Ino)).Errno);
        AssertErrno(Errno.ENOENT, _s.GetAttr(f.Ino));
        Assert.Empty(_s.Orphans);
    }

    [Fact]
    public void An_unnamed_file_is_an_orphan_from_the_start()
    {
        var changes = new NamespaceState.Changes();
        var r = Do(new NsMakeNode(V, 0, Root, [], File, 0, 0, 0, null, true, "n1", true), changes);
        Assert.Equal(0, r.Errno);
        Assert.Equal(0u, r.Attr!.Nlink);
        Assert.Equal(new[] { r.Attr.Ino }, changes.Unlinked);
        Assert.Empty(Names(Root));
        Assert.True(changes.IsEmpty); // nobody's cache knows it
    }

    // ---------------------------------------------------------------- attributes

    [Fact]
    public void Setattr_sets_size_mode_owner_and_times_and_keeps_the_file_type()
    {
        var f = MakeOk(Root, "f");
        var d = MakeOk(Root, "d", Dir);
        var all = SetAttrValid.Mode | SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Size | SetAttrValid.Atime | SetAttrValid.Mtime;
        var r = Do(new NsSetAttr(V, 0, f.Ino, (uint)all, ModeBits.Directory | 0x9ED, 11, 12, 777, 100, 200, 0, "n1"));
        Assert.Equal(0, r.Errno);
        var a = Attr(f.Ino);
        Assert.Equal(ModeBits.Regular | 0x9ED, a.Mode); // setuid and 0755 taken, the type kept
        Assert.Equal((11u, 12u, 777UL), (a.Uid, a.Gid, a.Size));
        Assert.Equal((100L, 200L, _time), (a.AtimeNs, a.MtimeNs, a.CtimeNs));
        Assert.Equal(a, r.Attr);

        // Size alone moves mtime to the mutation's time.
        Assert.Equal(0, Do(new NsSetAttr(V, 0, f.Ino, (uint)SetAttrValid.Size, 0, 0, 0, 3, 0, 0, 0, "n1")).Errno);
        Assert.Equal((3UL, _time, _time), (Attr(f.Ino).Size, Attr(f.Ino).MtimeNs, Attr(f.Ino).CtimeNs));
        // NOW flags take the mutation's time; CTIME takes the given one.
        Do(new NsSetAttr(V, 0, f.Ino, (uint)(SetAttrValid.Atime | SetAttrValid.AtimeNow | SetAttrValid.Ctime), 0, 0, 0, 0, 5, 0, 99, "n1"));
        Assert.Equal((_time, 99L), (Attr(f.Ino).AtimeNs, Attr(f.Ino).CtimeNs));
        // Kill suid/sgid (sgid only with group execute).
        Do(new NsSetAttr(V, 0, f.Ino, (uint)SetAttrValid.KillSuidGid, 0, 0, 0, 0, 0, 0, 0, "n1"));
        Assert.Equal(ModeBits.Regular | 0x1ED, Attr(f.Ino).Mode);

        AssertErrno(Errno.EISDIR, Do(new NsSetAttr(V, 0, d.Ino, (uint)SetAttrValid.Size, 0, 0, 0, 0, 0, 0, 0, "n1")));
        AssertErrno(Errno.EFBIG, Do(new NsSetAttr(V, 0, f.Ino, (uint)SetAttrValid.Size, 0, 0, 0, ulong.MaxValue, 0, 0, 0, "n1")));
        AssertErrno(Errno.ENOENT, Do(new NsSetAttr(V, 0, 999, (uint)SetAttrValid.Mode, 0, 0, 0, 0, 0, 0, 0, "n1")));
    }

    [Fact]
    public void A_setgid_directory_gives_its_group_to_new_nodes_and_its_bit_to_new_directories()
    {
        var d = MakeOk(Root, "d", ModeBits.Directory | ModeBits.SetGid | 0x1ED, uid: 1, gid: 50);
        var f = MakeOk(d.Ino, "f", File, uid: 2, gid: 60);
        var sub = MakeOk(d.Ino, "sub", Dir, uid: 2, gid: 60);
        Assert.Equal(50u, f.Gid);
        Assert.Equal(0u, f.Mode & ModeBits.SetGid);
        Assert.Equal(50u, sub.Gid);
        Assert.NotEqual(0u, sub.Mode & ModeBits.SetGid);
        // Outside it, the caller's group.
        Assert.Equal(60u, MakeOk(Root, "g", File, uid: 2, gid: 60).Gid);
    }

    [Fact]
    public void Written_grows_the_size_only()
    {
        var f = MakeOk(Root, "f", File | ModeBits.SetUid);
        Assert.Equal(100UL, Do(new NsWritten(V, 0, f.Ino, 100, false, "n1", 0)).Attr!.Size);
        Assert.Equal(_time, Attr(f.Ino).MtimeNs);
        var r = Do(new NsWritten(V, 0, f.Ino, 40, true, "n1", 0));
        Assert.Equal(100UL, r.Attr!.Size);
        Assert.Equal(0u, r.Attr.Mode & ModeBits.SetUid);
        var d = MakeOk(Root, "d", Dir);
        AssertErrno(Errno.EINVAL, Do(new NsWritten(V, 0, d.Ino, 1, false, "n1", 0)));
    }

    [Fact]
    public void Listing_cookies_are_given_once_per_name_and_survive_removals_and_snapshots()
    {
        var d = MakeOk(Root, "d", Dir);
        foreach (var n in new[] { "a", "b", "c" }) MakeOk(d.Ino, n);
        var before = _s.ReadDir(d.Ino).Entries!;
        Assert.Equal([3UL, 4UL, 5UL], before.Select(e => e.Cookie).ToArray());
        Remove(d.Ino, "b");
        MakeOk(d.Ino, "b"); // a new name gets a new cookie, after every other
        var after = _s.ReadDir(d.Ino).Entries!;
        Assert.Equal(["a:3", "c:5", "b:6"], after.Select(e => $"{System.Text.Encoding.UTF8.GetString(e.Name)}:{e.Cookie}").ToArray());
        // A snapshot keeps the cookies and the next one to give, even once the newest name is gone.
        Remove(d.Ino, "b");
        var restored = NamespaceState.FromSnapshot(_s.ToSnapshot());
        Assert.Equal([3UL, 5UL], restored.ReadDir(d.Ino).Entries!.Select(e => e.Cookie).ToArray());
        restored.Apply(new NsMakeNode(V, ++_time, d.Ino, N("e"), File, 0, 0, 0, null, false, "n1", false), new());
        Assert.Equal(7UL, restored.ReadDir(d.Ino).Entries!.Last().Cookie);
    }

    [Fact]
    public void A_numbered_change_sent_again_gets_its_first_answer_and_is_not_applied_twice()
    {
        var make = new NsMakeNode(V, 0, Root, N("once"), File, 0, 0, 0, null, false, "n1", false, RequestId: 7);
        var first = Do(make);
        var again = new NamespaceState.Changes();
        var second = Do(make, again);
        Assert.Same(first, second);
        Assert.True(again.Duplicate);
        Assert.True(again.IsEmpty);
        Assert.Equal(3UL, _s.NextIno); // one inode made
        // Another number (or another node with the same number) is another request.
        AssertErrno(Errno.EEXIST, Do(make with { RequestId = 8 }));
        AssertErrno(Errno.EEXIST, Do(make with { Origin = "n2" }));
        // An append sent again gets the same place, not a second one.
        var append = new NsAppend(V, 0, first.Attr!.Ino, 10, "n1", RequestId: 9);
        Assert.Equal(10UL, Do(append).Attr!.Size);
        Assert.Equal(10UL, Do(append).Attr!.Size);
        // Remembered across a snapshot.
        var restored = NamespaceState.FromSnapshot(_s.ToSnapshot());
        var afterRestore = new NamespaceState.Changes();
        Assert.Equal(first.Attr, restored.Apply(make with { Time = 99_999 }, afterRestore).Attr);
        Assert.True(afterRestore.Duplicate);
        // Only the last RememberedRequests answers are kept, oldest out first.
        for (ulong i = 0; i < NamespaceState.RememberedRequests; i++)
            Do(new NsSetXattr(V, 0, Root, N("user.k"), [], 0, "n3", RequestId: 1000 + i));
        AssertErrno(Errno.EEXIST, Do(make)); // number 7 was forgotten: applied again, and the name exists
    }

    [Fact]
    public void Append_places_each_write_at_the_end_and_grows_the_size_in_one_step()
    {
        var f = MakeOk(Root, "log");
        Do(new NsWritten(V, 0, f.Ino, 10, false, "n1", 0));
        // Two nodes append at once: each gets its own range, one after the other.
        var first = Do(new NsAppend(V, 0, f.Ino, 5, "n1"));
        var second = Do(new NsAppend(V, 0, f.Ino, 7, "n2"));
        Assert.Equal(15UL, first.Attr!.Size);   // written at 10..15
        Assert.Equal(22UL, second.Attr!.Size);  // written at 15..22
        AssertErrno(Errno.EINVAL, Do(new NsAppend(V, 0, MakeOk(Root, "d", Dir).Ino, 1, "n1")));
    }

    [Fact]
    public void Only_chunks_that_were_written_are_recorded_and_truncate_forgets_those_beyond_the_new_size()
    {
        var s = new NamespaceState(chunkSize: 100);
        var f = s.Apply(new NsMakeNode(V, 1, Root, N("sparse"), File, 0, 0, 0, null, false, "n1", false), new()).Attr!;
        s.Apply(new NsWritten(V, 2, f.Ino, 150, false, "n1", 50), new());             // chunks 0 and 1
        s.Apply(new NsWritten(V, 3, f.Ino, 1_000_010, false, "n1", 1_000_000), new()); // chunk 10000, far away
        Assert.Equal([0L, 1L, 10_000L], s.ChunksOf(f.Ino));
        Assert.Equal([1L, 10_000L], s.Chunks(f.Ino, 1).Chunks!);
        // Truncate to 120: chunk 1 keeps bytes 100..120, chunk 10000 is beyond the size.
        s.Apply(new NsSetAttr(V, 4, f.Ino, (uint)SetAttrValid.Size, 0, 0, 0, 120, 0, 0, 0, "n1"), new());
        Assert.Equal([0L, 1L], s.ChunksOf(f.Ino));
        s.Apply(new NsSetAttr(V, 5, f.Ino, (uint)SetAttrValid.Size, 0, 0, 0, 0, 0, 0, 0, "n1"), new());
        Assert.Empty(s.ChunksOf(f.Ino));
        // The chunk list survives a snapshot.
        s.Apply(new NsWritten(V, 6, f.Ino, 310, false, "n1", 300), new());
        Assert.Equal([3L], NamespaceState.FromSnapshot(s.ToSnapshot(), 100).ChunksOf(f.Ino));
    }

    // ---------------------------------------------------------------- xattrs

    [Fact]
    public void Xattrs_honour_create_and_replace_and_list_and_remove()
    {
        var f = MakeOk(Root, "f");
        AssertErrno(Errno.ENODATA, _s.GetXattr(f.Ino, N("user.a")));
        AssertErrno(Errno.ENODATA, Do(new NsSetXattr(V, 0, f.Ino, N("user.a"), [1], 2, "n1"))); // REPLACE, absent
        Assert.Equal(0, Do(new NsSetXattr(V, 0, f.Ino, N("user.a"), [1], 1, "n1")).Errno); // CREATE
        AssertErrno(Errno.EEXIST, Do(new NsSetXattr(V, 0, f.Ino, N("user.a"), [2], 1, "n1")));
        Assert.Equal(0, Do(new NsSetXattr(V, 0, f.Ino, N("user.a"), [3], 2, "n1")).Errno);
        Assert.Equal(0, Do(new NsSetXattr(V, 0, f.Ino, N("user.b"), [], 0, "n1")).Errno);
        Assert.Equal(new byte[] { 3 }, _s.GetXattr(f.Ino, N("user.a")).Bytes);
        Assert.Empty(_s.GetXattr(f.Ino, N("user.b")).Bytes!);
        Assert.Equal(new[] { N("user.a"), N("user.b") }, _s.ListXattr(f.Ino).Names!);

        Assert.Equal(0, Do(new NsRemoveXattr(V, 0, f.Ino, N("user.a"), "n1")).Errno);
        AssertErrno(Errno.ENODATA, Do(new NsRemoveXattr(V, 0, f.Ino, N("user.a"), "n1")));
        Assert.Equal(new[] { N("user.b") }, _s.ListXattr(f.Ino).Names!);
        Assert.Equal(_time - 1, Attr(f.Ino).CtimeNs);
        AssertErrno(Errno.ENOENT, _s.ListXattr(999));
        AssertErrno(Errno.ENOENT, Do(new NsSetXattr(V, 0, 999, N("user.a"), [1], 0, "n1")));
    }

    // ---------------------------------------------------------------- changes

    [Fact]
    public void Changes_say_which_inodes_entries_and_deletes_other_nodes_must_drop()
    {
        var d = MakeOk(Root, "d", Dir);
        var c = new NamespaceState.Changes();
        var f = Do(new NsMakeNode(V, 0, d.Ino, N("f"), File, 0, 0, 0, null, false, "n1", false), c).Attr!;
        Assert.Equal(new[] { d.Ino }, c.Inodes);
        Assert.Equal((d.Ino, "f"), Single(c.Entries));
        Assert.Empty(c.Deletes);

        c = new NamespaceState.Changes();
        Assert.Equal(0, Rename(d.Ino, "f", Root, "g", changes: c).Errno);
        Assert.Equal(new[] { d.Ino, Root, f.Ino }, c.Inodes);
        Assert.Equal((Root, "g"), Single(c.Entries));
        var del = Assert.Single(c.Deletes);
        Assert.Equal((d.Ino, f.Ino, "f"), (del.Parent, del.Child, System.Text.Encoding.UTF8.GetString(del.Name)));

        c = new NamespaceState.Changes();
        Assert.Equal(0, Do(new NsRemove(V, 0, Root, N("g"), false, "n1"), c).Errno);
        Assert.Equal(new[] { f.Ino, Root }, c.Inodes);
        Assert.Empty(c.Entries);
        del = Assert.Single(c.Deletes);
        Assert.Equal((Root, f.Ino, "g"), (del.Parent, del.Child, System.Text.Encoding.UTF8.GetString(del.Name)));
        Assert.Equal(new[] { f.Ino }, c.Unlinked);
        var inv = c.ToInvalidate();
        Assert.Equal(c.Inodes, inv.Inodes);
        Assert.Equal(c.Deletes, inv.Deletes);

        // A failed mutation reports nothing.
        c = new NamespaceState.Changes();
        AssertErrno(Errno.ENOENT, Do(new NsRemove(V, 0, Root, N("g"), false, "n1"), c));
        Assert.True(c.IsEmpty);
        Assert.Empty(c.Unlinked);

        static (ulong, string) Single(List<EntryRef> entries)
        {
            var e = Assert.Single(entries);
            return (e.Parent, System.Text.Encoding.UTF8.GetString(e.Name));
        }
    }

    [Fact]
    public void Check_says_what_apply_would_answer_and_changes_nothing()
    {
        MakeOk(Root, "f");
        var before = Bytes(_s.ToSnapshot());
        Assert.Equal(Errno.EEXIST, _s.Check(new NsMakeNode(V, 1, Root, N("f"), File, 0, 0, 0, null, false, "n1", false)));
        Assert.Equal(Errno.Ok, _s.Check(new NsMakeNode(V, 1, Root, N("g"), File, 0, 0, 0, null, false, "n1", false)));
        Assert.Equal(Errno.Ok, _s.Check(new NsRemove(V, 1, Root, N("f"), false, "n1")));
        Assert.Equal(before, Bytes(_s.ToSnapshot()));
    }

    // ---------------------------------------------------------------- determinism and snapshots

    private static byte[] Bytes(NamespaceSnapshot s) => MessagePackSerializer.Serialize(s);

    /// <summary>A seeded mix of every kind of mutation, most of them valid, some not.</summary>
    internal static List<INamespaceMutation> RandomMutations(int seed, int count)
    {
        var rng = new Random(seed);
        var names = new[] { N("a"), N("b"), N("c"), N("dd"), [0xE8], [0xE9] };
        var list = new List<INamespaceMutation>();
        long time = 1_700_000_000_000_000_000;
        ulong Ino() => (ulong)rng.Next(1, 24);
        byte[] Name() => names[rng.Next(names.Length)];
        for (int i = 0; i < count; i++)
        {
            time += rng.Next(1, 1_000_000);
            INamespaceMutation m = rng.Next(12) switch
            {
                0 or 1 => new NsMakeNode(V, time, Ino(), Name(), Dir, (uint)rng.Next(3), (uint)rng.Next(3), 0, null, false, "n1", false),
                2 or 3 => new NsMakeNode(V, time, Ino(), Name(), rng.Next(4) switch
                    {
                        0 => File, 1 => ModeBits.Fifo | 0x1A4, 2 => ModeBits.Char | 0x1A4, _ => ModeBits.Symlink | 0x1FF,
                    }, 1, 1, (uint)rng.Next(5), Name(), rng.Next(8) == 0, "n1", false),
                4 => new NsLink(V, time, Ino(), Ino(), Name(), "n1"),
                5 => new NsRemove(V, time, Ino(), Name(), rng.Next(2) == 0, "n1"),
                6 => new NsRename(V, time, Ino(), Name(), Ino(), Name(), (uint)new[] { 0, 0, 1, 2, 4 }[rng.Next(5)], 3, 4, "n1"),
                7 => new NsSetAttr(V, time, Ino(), (uint)rng.Next(1 << 12), (uint)rng.Next(1 << 16), (uint)rng.Next(5), (uint)rng.Next(5),
                    (ulong)rng.Next(100_000), rng.Next(), rng.Next(), rng.Next(), "n1"),
                8 => new NsWritten(V, time, Ino(), (ulong)rng.Next(1 << 20), rng.Next(2) == 0, "n1", 0),
                9 => new NsSetXattr(V, time, Ino(), Name(), [(byte)rng.Next(256)], (uint)rng.Next(3), "n1"),
                10 => new NsRemoveXattr(V, time, Ino(), Name(), "n1"),
                _ => new NsFree(V, time, Ino()),
            };
            list.Add(m);
        }
        return list;
    }

    private static NamespaceState ApplyAll(IEnumerable<INamespaceMutation> mutations, NamespaceState? state = null)
    {
        state ??= new NamespaceState();
        var changes = new NamespaceState.Changes();
        foreach (var m in mutations)
        {
            changes.Clear();
            state.Apply(m, changes);
        }
        return state;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_same_mutations_give_the_same_state(int seed)
    {
        var mutations = RandomMutations(seed, 400);
        var a = ApplyAll(mutations);
        var b = ApplyAll(mutations);
        Assert.True(a.InodeCount > 10, $"the sequence built little: {a.InodeCount} inodes");
        Assert.Equal(Bytes(a.ToSnapshot()), Bytes(b.ToSnapshot()));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void A_snapshot_restores_the_same_state(int seed)
    {
        var a = ApplyAll(RandomMutations(seed, 400));
        var snapshot = a.ToSnapshot();
        var restored = NamespaceState.FromSnapshot(snapshot);
        Assert.Equal(Bytes(snapshot), Bytes(restored.ToSnapshot()));
        Assert.Equal(a.NextIno, restored.NextIno);
        Assert.Equal(a.Orphans.Order(), restored.Orphans.Order());
        // Queries answer the same.
        foreach (var r in snapshot.Inodes)
        {
            var ino = r.Attr.Ino;
            Assert.Equal(a.GetAttr(ino), restored.GetAttr(ino));
            Assert.Equal(Bytes(a.ReadDir(ino)), Bytes(restored.ReadDir(ino)));
            Assert.Equal(Bytes(a.ListXattr(ino)), Bytes(restored.ListXattr(ino)));
            Assert.Equal(Bytes(a.ReadLink(ino)), Bytes(restored.ReadLink(ino)));
        }
    }

    private static byte[] Bytes(NsResult r) => MessagePackSerializer.Serialize(r);

    [Fact]
    public void A_snapshot_taken_after_frees_and_xattr_removals_gives_the_same_state_as_never_snapshotting()
    {
        // Inodes freed and xattrs removed before the snapshot leave holes the uninterrupted state refills later;
        // the snapshot (and listxattr) must not depend on that history.
        var mutations = new List<INamespaceMutation>
        {
            new NsMakeNode(V, 1, Root, N("a"), File, 0, 0, 0, null, false, "n1", false),
            new NsMakeNode(V, 2, Root, N("b"), File, 0, 0, 0, null, false, "n1", false),
            new NsSetXattr(V, 3, 3, N("user.x"), [1], 0, "n1"),
            new NsSetXattr(V, 4, 3, N("user.y"), [2], 0, "n1"),
            new NsRemove(V, 5, Root, N("a"), false, "n1"),
            new NsFree(V, 6, 2),
            new NsRemoveXattr(V, 7, 3, N("user.x"), "n1"),
            // snapshot here
            new NsMakeNode(V, 8, Root, N("c"), File, 0, 0, 0, null, false, "n1", false),
            new NsSetXattr(V, 9, 3, N("user.z"), [3], 0, "n1"),
        };
        var all = ApplyAll(mutations);
        var half = ApplyAll(mutations.Take(7));
        var rebuilt = ApplyAll(mutations.Skip(7), NamespaceState.FromSnapshot(half.ToSnapshot()));
        Assert.Equal(Bytes(all.ListXattr(3)), Bytes(rebuilt.ListXattr(3)));
        Assert.Equal(Bytes(all.ToSnapshot()), Bytes(rebuilt.ToSnapshot()));
    }

    [Theory]
    [InlineData(6, 150)]
    [InlineData(7, 250)]
    [InlineData(8, 333)]
    public void A_snapshot_taken_midway_plus_the_remaining_mutations_is_the_whole_sequence(int seed, int midway)
    {
        var mutations = RandomMutations(seed, 500);
        var all = ApplyAll(mutations);
        var half = ApplyAll(mutations.Take(midway));
        var rebuilt = ApplyAll(mutations.Skip(midway), NamespaceState.FromSnapshot(half.ToSnapshot()));
        Assert.Equal(Bytes(all.ToSnapshot()), Bytes(rebuilt.ToSnapshot()));
    }
}
