using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

public class MemoryFsLifetimeTests : MemoryFsTestKit
{
    [Fact]
    public void Unlinked_open_file_keeps_its_data_until_release_and_forget()
    {
        var (e, fh) = Create(Root, "doomed");
        var data = Pattern(200_000, 5);
        Write(e.NodeId, fh, 0, data);
        long used = Actor.UsedBytes;
        Assert.Equal(Errno.Ok, Unlink(Root, "doomed"));
        Assert.Equal(Errno.ENOENT, LookupError(Root, "doomed"));

        // Still fully usable through the node id.
        Assert.Equal(0u, GetAttr(e.NodeId).Nlink);
        Assert.Equal(data, Read(e.NodeId, fh, 0, 1 << 20));
        Write(e.NodeId, fh, 200_000, [1]);
        Assert.Equal(200_001UL, GetAttr(e.NodeId).Size);
        Assert.True(Actor.UsedBytes >= used);

        Release(e.NodeId, fh);
        Assert.Equal(0u, GetAttr(e.NodeId).Nlink); // the kernel still holds its lookup
        Forget((e.NodeId, 1));
        Assert.Equal(Errno.ENOENT, GetAttrError(e.NodeId));
        Assert.Equal(0, Actor.UsedBytes);
    }

    [Fact]
    public void Stopping_the_filesystem_closes_the_memfds_of_its_large_files()
    {
        var (e, fh) = Create(Root, "big");
        Write(e.NodeId, fh, 0, Pattern(3 << 20, 9)); // above the 1 MiB at which a file moves to a memfd
        int fd = Actor.MemfdDescriptorOf(e.NodeId);
        Assert.True(fd >= 0, "a 3 MiB file lives in a memfd");
        ulong inode = Descriptors.InodeOf(fd);
        Assert.NotEqual(0UL, inode);

        Watch(Fs);
        Sys.Stop(Fs);
        ExpectTerminated(Fs);
        // Closed: the descriptor is gone, or its number already names another file of this process.
        Assert.NotEqual(inode, Descriptors.InodeOf(fd));
    }

    [Fact]
    public void Forget_after_release_frees_only_when_both_reach_zero_in_either_order()
    {
        var (e, fh) = Create(Root, "f");
        Unlink(Root, "f");
        Forget((e.NodeId, 1)); // lookups 0, but still open
        Assert.Equal(0UL, GetAttr(e.NodeId).Size);
        Release(e.NodeId, fh);
        Assert.Equal(Errno.ENOENT, GetAttrError(e.NodeId));
        Assert.Equal(0, Actor.OpenHandleCount);
    }

    [Fact]
    public void Forget_subtracts_lookups_and_frees_only_at_zero()
    {
        var n = MkNod(Root, "n").NodeId; // 1
        Lookup(Root, "n");               // 2
        Lookup(Root, "n");               // 3
        Assert.Equal(3UL, Actor.LookupCountOf(n));
        Assert.Equal(Errno.Ok, Unlink(Root, "n"));
        Forget((n, 2));
        Assert.Equal(1UL, Actor.LookupCountOf(n));
        Assert.Equal(0u, GetAttr(n).Nlink);
        Forget((n, 1));
        Assert.Equal(Errno.ENOENT, GetAttrError(n));
    }

    [Fact]
    public void Forget_of_a_linked_node_keeps_it_and_unknown_nodes_are_ignored()
    {
        var n = MkNod(Root, "kept").NodeId;
        Forget((n, 1), (424242, 3));
        Assert.Equal(0UL, Actor.LookupCountOf(n));
        Assert.Equal(n, Lookup(Root, "kept").NodeId);
    }

    [Fact]
    public void Root_is_never_freed()
    {
        Forget((Root, 1000));
        Assert.Equal(S_IFDIR | 0x1ED, GetAttr(Root).Mode);
    }

    [Fact]
    public void Each_entry_reply_counts_one_lookup()
    {
        var f = Create(Root, "c").Entry.NodeId;
        var d = MkDir(Root, "d").NodeId;
        var s = Symlink(Root, "s", "t").NodeId;
        Link(f, d, "l");
        Lookup(Root, "c");
        Assert.Equal(3UL, Actor.LookupCountOf(f));
        Assert.Equal(1UL, Actor.LookupCountOf(d));
        Assert.Equal(1UL, Actor.LookupCountOf(s));
        Assert.Equal(Errno.EEXIST, Err(new MkNodRequest { Name = "c", Mode = S_IFREG }, Root)); // failures count nothing
        Assert.Equal(3UL, Actor.LookupCountOf(f));
    }

    [Fact]
    public void Destroy_drops_kernel_references_and_frees_orphans_but_keeps_the_tree()
    {
        var (orphan, fh) = Create(Root, "orphan");
        Write(orphan.NodeId, fh, 0, new byte[1000]);
        Unlink(Root, "orphan");
        var kept = MkNod(Root, "kept").NodeId;
        Ok(new DestroyRequest(), Root);
        Assert.Equal(Errno.ENOENT, GetAttrError(orphan.NodeId));
        Assert.Equal(0, Actor.UsedBytes);
        Assert.Equal(kept, Lookup(Root, "kept").NodeId);
    }

    [Fact]
    public void Rmdir_of_a_looked_up_directory_frees_it_at_forget()
    {
        var d = MkDir(Root, "d").NodeId;
        ulong fh = OpenDir(d);
        Assert.Equal(Errno.Ok, RmDir(Root, "d"));
        Assert.Equal(0u, GetAttr(d).Nlink);
        Assert.Equal([".", ".."], ReadDirAll(d).Select(r => r.Name));
        Forget((d, 1));
        Assert.Equal(0u, GetAttr(d).Nlink); // still open
        Release(d, fh, dir: true);
        Assert.Equal(Errno.ENOENT, GetAttrError(d));
    }
}

public class MemoryFsXattrTests : MemoryFsTestKit
{
    private Errno Set(ulong node, string name, string value, XAttrFlags flags = 0) =>
        Err(new SetXAttrRequest { Name = Encoding.UTF8.GetBytes(name), Value = Encoding.UTF8.GetBytes(value), Flags = flags }, node);

    private (Errno Error, string Value) Get(ulong node, string name)
    {
        var r = Call(new GetXAttrRequest { Name = Encoding.UTF8.GetBytes(name), Size = 4096 }, node);
        return (r.Error, r.Error == Errno.Ok ? Encoding.UTF8.GetString(Payload(r)) : "");
    }

    private string[] List(ulong node)
    {
        var r = Ok(new ListXAttrRequest { Size = 4096 }, node);
        return Encoding.UTF8.GetString(Payload(r)).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void Xattr_create_and_replace_flags_are_honoured()
    {
        var n = MkNod(Root, "x").NodeId;
        Assert.Equal(Errno.ENODATA, Set(n, "user.a", "1", XAttrFlags.Replace));
        Assert.Equal(Errno.Ok, Set(n, "user.a", "1", XAttrFlags.Create));
        Assert.Equal(Errno.EEXIST, Set(n, "user.a", "2", XAttrFlags.Create));
        Assert.Equal("1", Get(n, "user.a").Value);
        Assert.Equal(Errno.Ok, Set(n, "user.a", "22", XAttrFlags.Replace));
        Assert.Equal("22", Get(n, "user.a").Value);
        Assert.Equal(Errno.Ok, Set(n, "user.a", "333"));
        Assert.Equal("333", Get(n, "user.a").Value);
    }

    [Fact]
    public void Missing_xattrs_are_ENODATA_and_list_and_remove_work()
    {
        var n = MkNod(Root, "x").NodeId;
        Assert.Equal(Errno.ENODATA, Get(n, "security.capability").Error);
        Assert.Empty(List(n));
        Set(n, "user.one", "1");
        Set(n, "user.two", "2");
        Assert.Equal(["user.one", "user.two"], List(n).OrderBy(s => s));
        Assert.Equal(Errno.Ok, Err(new RemoveXAttrRequest { Name = "user.one"u8.ToArray() }, n));
        Assert.Equal(Errno.ENODATA, Err(new RemoveXAttrRequest { Name = "user.one"u8.ToArray() }, n));
        Assert.Equal(["user.two"], List(n));
        Assert.Equal(Errno.ENODATA, Get(n, "user.one").Error);
        // Xattrs also work on directories (the root included).
        Assert.Equal(Errno.Ok, Set(Root, "user.r", "root"));
        Assert.Equal("root", Get(Root, "user.r").Value);
    }

    [Fact]
    public void Posix_acl_xattrs_are_not_supported_so_tools_fall_back_to_mode_bits()
    {
        var n = MkNod(Root, "x").NodeId;
        Assert.Equal(Errno.EOPNOTSUPP, Set(n, "system.posix_acl_access", "acl"));
        Assert.Equal(Errno.EOPNOTSUPP, Set(n, "system.posix_acl_default", "acl"));
        Assert.Equal(Errno.EOPNOTSUPP, Get(n, "system.posix_acl_access").Error);
        Assert.Empty(List(n));
    }

    [Fact]
    public void Size_probe_returns_the_value_length()
    {
        var n = MkNod(Root, "x").NodeId;
        Set(n, "user.len", "twelve bytes");
        var r = Ok(new GetXAttrRequest { Name = "user.len"u8.ToArray(), Size = 0 }, n);
        Assert.Equal(12u, Decode<FuseGetXAttrOut>(Payload(r)).Size);
        Assert.Equal(Errno.ERANGE, Err(new GetXAttrRequest { Name = "user.len"u8.ToArray(), Size = 4 }, n));
    }
}
