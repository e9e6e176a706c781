using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Lookup counts (nlookup) per node, from the replies that hand nodes out.</summary>
public sealed class VirtualDeviceNodeTests : VirtualDeviceTestBase
{
    [Fact]
    public async Task Nlookup_counts_every_reply_that_hands_out_a_node_and_forget_gives_them_back()
    {
        var (d, daemon) = Start();
        var c = new VfsClient(d);

        async Task<VfsEntry> Serve(Task<VfsEntry> op, Opcode opcode, ulong node, uint mode)
        {
            daemon.ReplyEntry(daemon.Read(opcode).Unique, node, mode);
            return await op.Within();
        }

        await Serve(c.LookupAsync(1, "a"), Opcode.Lookup, 100, Posix.S_IFREG | 0x1A4);
        await Serve(c.LookupAsync(1, "a"), Opcode.Lookup, 100, Posix.S_IFREG | 0x1A4);
        await Serve(c.MkDirAsync(1, "dir"), Opcode.MkDir, 101, Posix.S_IFDIR | 0x1ED);
        await Serve(c.MkNodAsync(1, "fifo", Posix.S_IFIFO | 0x1A4), Opcode.MkNod, 102, Posix.S_IFIFO | 0x1A4);
        await Serve(c.SymlinkAsync(1, "ln", "a"), Opcode.Symlink, 103, Posix.S_IFLNK | 0x1FF);
        await Serve(c.LinkAsync(100, 101, "hard"), Opcode.Link, 100, Posix.S_IFREG | 0x1A4);

        var create = c.CreateAsync(101, "new");
        var cr = daemon.Read(Opcode.Create);
        daemon.Reply(cr.Unique, Wire.Build().Struct(FakeDaemon.Entry(104)).Struct(new FuseOpenOut { Fh = 1 }).ToArray());
        var created = await create.Within();

        var dir = new VfsHandle(101, 5, 0, 0);
        var plus = c.ReadDirPlusAsync(dir);
        var rd = daemon.Read(Opcode.ReadDirPlus);
        var b = Wire.Build();
        Dirents.AppendPlus(b, FakeDaemon.Entry(101, Posix.S_IFDIR | 0x1ED), 1, Posix.DT_DIR, ".");
        Dirents.AppendPlus(b, FakeDaemon.Entry(1, Posix.S_IFDIR | 0x1ED), 2, Posix.DT_DIR, "..");
        Dirents.AppendPlus(b, FakeDaemon.Entry(100), 3, Posix.DT_REG, "hard");
        Dirents.AppendPlus(b, FakeDaemon.Entry(104), 4, Posix.DT_REG, "new");
        Dirents.AppendPlus(b, default, 5, Posix.DT_REG, "nodata"); // nodeid 0: no entry data
        daemon.Reply(rd.Unique, b.ToArray());
        var entries = await plus.Within();
        Assert.Equal(5, entries.Count);
        Assert.Equal([false, false, true, true, false], entries.Select(e => e.HoldsLookup));

        Assert.Equal(4UL, d.GetLookupCount(100)); // 2 lookups + link + readdirplus
        Assert.Equal(1UL, d.GetLookupCount(101)); // mkdir ("." did not count)
        Assert.Equal(1UL, d.GetLookupCount(102));
        Assert.Equal(1UL, d.GetLookupCount(103));
        Assert.Equal(2UL, d.GetLookupCount(104)); // create + readdirplus
        Assert.Equal(0UL, d.GetLookupCount(1));   // ".." did not count either

        c.Forget(entries);
        c.Forget(100, 3);
        c.Forget(101);
        c.Forget(102);
        c.Forget(103);
        c.Forget(created.Entry.NodeId);
        _ = c.ReleaseAsync(created.Handle);
        var forgets = new Dictionary<ulong, ulong>();
        for (var r = daemon.TryRead(); r != null; r = daemon.TryRead())
        {
            if (r.Opcode == Opcode.Release) { daemon.ReplyEmpty(r.Unique); continue; }
            if (r.Opcode == Opcode.Forget) forgets[r.NodeId] = forgets.GetValueOrDefault(r.NodeId) + r.Arg<FuseForgetIn>().NLookup;
            else
            {
                Assert.Equal(Opcode.BatchForget, r.Opcode);
                for (int i = 0; i < r.Arg<FuseBatchForgetIn>().Count; i++)
                {
                    var one = r.Arg<FuseForgetOne>(8 + 16 * i);
                    forgets[one.NodeId] = forgets.GetValueOrDefault(one.NodeId) + one.NLookup;
                }
            }
        }
        Assert.Equal(new Dictionary<ulong, ulong> { [100] = 4, [101] = 1, [102] = 1, [103] = 1, [104] = 2 }, forgets);
        Assert.Equal([1UL], d.LookupCounts().Keys); // only the root is left
        AssertQuiescent(d);
    }

    [Fact]
    public void Forget_of_more_lookups_than_the_node_holds_is_a_caller_bug()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 5);
        Assert.Throws<InvalidOperationException>(() => d.Forget(5, 2));
        Assert.Throws<InvalidOperationException>(() => d.Forget(6));
        Assert.Throws<ArgumentException>(() => d.Forget(1));
    }

    [Fact]
    public void LOOKUP_reply_naming_the_root_for_a_child_is_EIO_and_the_lookup_is_given_back()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.Lookup(1, "loop"), Rq.Alice);
        daemon.ReplyEntry(daemon.Read(Opcode.Lookup).Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.Equal(Errno.EIO, t.Done().Error);
        var f = daemon.Read(Opcode.Forget);
        Assert.Equal(1UL, f.NodeId);
        Assert.Equal(0UL, d.GetLookupCount(1));
    }

    [Fact]
    public void Entry_reply_with_an_invalid_file_type_is_EIO_and_the_lookup_is_given_back()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.Lookup(1, "weird"), Rq.Alice);
        daemon.ReplyEntry(daemon.Read(Opcode.Lookup).Unique, 33, mode: 0);
        Assert.Equal(Errno.EIO, t.Done().Error);
        Assert.Equal(33UL, daemon.Read(Opcode.Forget).NodeId);
        Assert.Equal(0UL, d.GetLookupCount(33));
        AssertQuiescent(d);
    }

    [Fact]
    public void Malformed_READDIRPLUS_reply_is_EIO_and_its_entries_lookups_are_given_back()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(new VirtualRequest(Opcode.ReadDirPlus, 1, Wire.Bytes(new FuseReadIn { Fh = 1, Size = 4096 })), Rq.Alice);
        var rd = daemon.Read(Opcode.ReadDirPlus);
        var b = Wire.Build();
        Dirents.AppendPlus(b, FakeDaemon.Entry(200), 1, Posix.DT_REG, "ok");
        Dirents.AppendPlus(b, FakeDaemon.Entry(201), 2, Posix.DT_REG, "bad/name");
        daemon.Reply(rd.Unique, b.ToArray());
        Assert.Equal(Errno.EIO, t.Done().Error);
        Assert.Equal(200UL, daemon.Read(Opcode.Forget).NodeId);
        AssertQuiescent(d);
    }
}
