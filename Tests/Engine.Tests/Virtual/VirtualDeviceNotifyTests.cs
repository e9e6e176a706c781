using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Notifications (unique 0) and the cache model they act on.</summary>
public sealed class VirtualDeviceNotifyTests : VirtualDeviceTestBase
{
    private static byte[] InvalEntry(ulong parent, string name, uint flags = 0, bool nul = true, uint? namelen = null)
    {
        var n = Encoding.UTF8.GetBytes(name);
        var b = Wire.Build().Struct(new FuseNotifyInvalEntryOut { Parent = parent, NameLen = namelen ?? (uint)n.Length, Flags = flags }).Raw(n);
        if (nul) b.Zeros(1);
        return b.ToArray();
    }

    private static byte[] Delete(ulong parent, ulong child, string name)
    {
        var n = Encoding.UTF8.GetBytes(name);
        return Wire.Build().Struct(new FuseNotifyDeleteOut { Parent = parent, Child = child, NameLen = (uint)n.Length }).Raw(n).Zeros(1).ToArray();
    }

    private static byte[] Store(ulong node, ulong offset, byte[] data) =>
        Wire.Build().Struct(new FuseNotifyStoreOut { NodeId = node, Offset = offset, Size = (uint)data.Length }).Raw(data).ToArray();

    [Fact]
    public void INVAL_INODE_drops_cached_attributes_and_pages_is_size_checked_and_an_unknown_node_is_ENOENT()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 5);
        Assert.True(d.Cache.TryGetAttr(5, out _));
        Assert.Equal(16 + 24 + 4108, daemon.Notify(NotifyCode.Store, Store(5, 0, new byte[4096 + 12])));
        Assert.Equal([0L, 1L], d.Cache.CachedPages(5));

        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.InvalInode, new byte[23]));
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.InvalInode, Wire.Bytes(new FuseNotifyInvalInodeOut { Ino = 99 })));
        Assert.Equal(40, daemon.Notify(NotifyCode.InvalInode, Wire.Bytes(new FuseNotifyInvalInodeOut { Ino = 5, Off = -1 })));
        Assert.False(d.Cache.TryGetAttr(5, out _));
        Assert.Equal([0L, 1L], d.Cache.CachedPages(5)); // off < 0: attributes only
        Assert.Equal(40, daemon.Notify(NotifyCode.InvalInode, Wire.Bytes(new FuseNotifyInvalInodeOut { Ino = 5, Off = 0, Len = 0 })));
        Assert.Empty(d.Cache.CachedPages(5));
    }

    [Fact]
    public void INVAL_ENTRY_drops_positive_and_negative_dentries_and_is_validated_exactly()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 6, "pos");
        var neg = d.SendAsync(Rq.Lookup(1, "neg"), Rq.Alice);
        daemon.ReplyEntry(daemon.Read(Opcode.Lookup).Unique, 0, entryValid: 30); // a negative entry for 30 s
        Assert.True(neg.Done().IsOk);
        Assert.True(d.Cache.TryGetEntry(1, "pos", out var p) && p == 6);
        Assert.True(d.Cache.TryGetEntry(1, "neg", out var n) && n == 0);

        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.InvalEntry, new byte[15]));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "pos", nul: false))); // the NUL is required
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "posX", namelen: 3, nul: false))); // no NUL at namelen
        Assert.Equal(-(int)Errno.ENAMETOOLONG, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, new string('x', 1025))));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "pos", flags: 2)));
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(77, "pos"))); // unknown parent
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "nothere"))); // not cached

        Assert.Equal(16 + 16 + 4, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "pos")));
        Assert.False(d.Cache.HasEntry(1, "pos"));
        Assert.Equal(16 + 16 + 4, daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "neg", flags: 1))); // EXPIRE_ONLY
        Assert.True(d.Cache.HasEntry(1, "neg"));
        Assert.False(d.Cache.TryGetEntry(1, "neg", out _)); // stale
    }

    [Fact]
    public void DELETE_removes_the_entry_and_checks_the_child()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 9, "gone");
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.Delete, Delete(1, 10, "gone"))); // another child
        LookupNode(d, daemon, 9, "gone");
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.Delete, Delete(1, 9, "gone")[..^1]));
        Assert.Equal(16 + 24 + 5, daemon.Notify(NotifyCode.Delete, Delete(1, 9, "gone")));
        Assert.False(d.Cache.HasEntry(1, "gone"));
        Assert.True(d.Cache.IsDeleted(9));
        Assert.Equal(2UL, d.GetLookupCount(9)); // the node stays until it is forgotten
    }

    [Fact]
    public void STORE_writes_the_page_cache_and_extends_the_size()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 12);
        var data = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.Store, Store(12, 0, data)[..^1])); // size ≠ payload
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.Store, Store(13, 0, data)));
        Assert.Equal(16 + 24 + 5000, daemon.Notify(NotifyCode.Store, Store(12, 0, data)));
        Assert.Equal(5000L, d.Cache.GetSize(12));
        Assert.Equal([0L, 1L], d.Cache.CachedPages(12)); // page 1 is valid: it ends at the end of the file
        Assert.Equal(data[4096..5000], d.Cache.ReadPage(12, 1)![..904]);

        // A partial page that is not cached and not at the end of the file is not marked valid.
        Assert.Equal(16 + 24 + 100, daemon.Notify(NotifyCode.Store, Store(12, 3 * 4096 + 10, new byte[100])));
        Assert.Equal([0L, 1L], d.Cache.CachedPages(12));
        Assert.Equal(3L * 4096 + 110, d.Cache.GetSize(12));
    }

    [Fact]
    public void RETRIEVE_queues_a_NOTIFY_REPLY_with_the_cached_data_that_the_daemon_never_answers()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 14);
        var data = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
        daemon.Notify(NotifyCode.Store, Store(14, 4096, data));
        var retrieve = new FuseNotifyRetrieveOut { NotifyUnique = 0x1234, NodeId = 14, Offset = 4096, Size = 5000 };
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.Retrieve, Wire.Bytes(retrieve)[..31]));
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.Retrieve, Wire.Bytes(retrieve with { NodeId = 15 })));
        Assert.Equal(48, daemon.Notify(NotifyCode.Retrieve, Wire.Bytes(retrieve)));

        var reply = daemon.Read(Opcode.NotifyReply);
        Assert.Equal(0x1234UL, reply.Unique);
        Assert.Equal(14UL, reply.NodeId);
        var inArg = reply.Arg<FuseNotifyRetrieveIn>();
        Assert.Equal(4096UL, inArg.Offset);
        Assert.Equal(4096u, inArg.Size); // 5000 asked, only the stored page is cached (and the file ends there)
        Assert.Equal(data, reply.Body[40..]);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyEmpty(reply.Unique));

        // Nothing cached at the offset: an empty NOTIFY_REPLY.
        daemon.Notify(NotifyCode.Retrieve, Wire.Bytes(retrieve with { NotifyUnique = 0x1236, Offset = 0 }));
        var empty = daemon.Read(Opcode.NotifyReply);
        Assert.Equal(0u, empty.Arg<FuseNotifyRetrieveIn>().Size);
        AssertQuiescent(d);
    }

    [Fact]
    public void Notification_with_an_unknown_code_or_a_wrong_size_is_EINVAL()
    {
        var (d, daemon) = Start();
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify((NotifyCode)0, ReadOnlySpan<byte>.Empty));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify((NotifyCode)10, ReadOnlySpan<byte>.Empty));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.Poll, new byte[7]));
        Assert.Equal(24, daemon.Notify(NotifyCode.Poll, new byte[8]));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Notify(NotifyCode.IncEpoch, new byte[8]));
        Assert.Equal(16, daemon.Notify(NotifyCode.IncEpoch, ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public async Task Attribute_cache_serves_GETATTR_within_attr_valid_and_INVAL_INODE_forces_a_new_one()
    {
        var time = new ManualTime();
        var (d, daemon) = Start(time: time);
        var client = new VfsClient(d);
        var lookup = client.LookupAsync(1, "f");
        daemon.ReplyEntry(daemon.Read(Opcode.Lookup).Unique, 16, attrValid: 10, size: 5);
        var e = await lookup.Within();

        var cached = await client.GetAttrAsync(16).Within(); // no request: within attr_valid
        Assert.True(cached.FromCache);
        Assert.Equal(5UL, cached.Size);
        daemon.AssertNothingToRead();

        time.Advance(TimeSpan.FromSeconds(11)); // expired
        var fresh = client.GetAttrAsync(16);
        daemon.ReplyAttr(daemon.Read(Opcode.GetAttr).Unique, 16, attrValid: 10, size: 6);
        Assert.Equal(6UL, (await fresh.Within()).Size);

        daemon.Notify(NotifyCode.InvalInode, Wire.Bytes(new FuseNotifyInvalInodeOut { Ino = 16, Off = -1 }));
        var again = client.GetAttrAsync(16);
        daemon.ReplyAttr(daemon.Read(Opcode.GetAttr).Unique, 16, attrValid: 10, size: 7);
        Assert.Equal(7UL, (await again.Within()).Size);
        client.Forget(e.NodeId);
    }

    [Fact]
    public async Task Negative_entry_is_cached_for_entry_valid_and_LOOKUP_then_fails_without_a_request()
    {
        var time = new ManualTime();
        var (d, daemon) = Start(time: time);
        var client = new VfsClient(d);
        var first = client.LookupAsync(1, "missing");
        daemon.ReplyEntry(daemon.Read(Opcode.Lookup).Unique, 0, entryValid: 30);
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<FuseErrnoException>(() => first.Within())).Errno);

        var second = client.LookupAsync(1, "missing");
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<FuseErrnoException>(() => second.Within())).Errno);
        daemon.AssertNothingToRead();

        daemon.Notify(NotifyCode.InvalEntry, InvalEntry(1, "missing"));
        var third = client.LookupAsync(1, "missing");
        daemon.ReplyError(daemon.Read(Opcode.Lookup).Unique, Errno.ENOENT); // an ENOENT error is not cached
        await Assert.ThrowsAsync<FuseErrnoException>(() => third.Within());
        Assert.False(d.Cache.HasEntry(1, "missing"));
    }
}
