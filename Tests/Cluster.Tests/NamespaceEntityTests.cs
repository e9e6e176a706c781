using System.Text;
using Akka.Actor;
using Akka.TestKit;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Namespace;
using Xunit.Abstractions;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>
/// <see cref="NamespaceEntity"/> on a real SQLite journal: it answers and persists mutations, recovers the same tree
/// (through snapshots too) in a new incarnation and a new ActorSystem, tells other nodes what changed, keeps
/// unlinked files while a live node holds them open and then purges their chunks, and arbitrates locks.
/// </summary>
public sealed class NamespaceEntityTests : SqliteJournalTestKit
{
    private const string V = "vol1";
    private const ulong Root = NamespaceState.RootIno;
    private const uint File = ModeBits.Regular | 0x1A4;
    private const uint Dir = ModeBits.Directory | 0x1ED;
    private static readonly TimeSpan T = TimeSpan.FromSeconds(10);
    private static readonly ClusterFsSettings Settings = new()
    {
        SnapshotEvery = 5, OrphanGrace = TimeSpan.FromMilliseconds(200), ChunkSize = 4096,
    };

    public NamespaceEntityTests(ITestOutputHelper output) : base("ns", output) { }

    private IActorRef Entity(ActorSystem? system = null, IActorRef? chunks = null, string volume = V) =>
        (system ?? Sys).ActorOf(NamespaceEntity.Props(volume, Settings, chunks ?? ActorRefs.Nobody));

    private void StopAndWait(IActorRef actor)
    {
        Watch(actor);
        actor.Tell(PoisonPill.Instance);
        ExpectTerminated(actor, T);
        Unwatch(actor);
    }

    private static Task<NsResult> Q(IActorRef entity, object message) => entity.Ask<NsResult>(message, T);

    private static async Task<NodeAttr> Ok(IActorRef entity, object message)
    {
        var r = await Q(entity, message);
        Assert.True(r.IsOk, $"{message.GetType().Name}: errno {r.Errno}");
        return r.Attr!;
    }

    private static NsMakeNode Make(ulong parent, string name, uint mode, string origin = "n1", bool open = false, string? target = null) =>
        new(V, 0, parent, N(name), mode, 1000, 1000, 0, target is null ? null : N(target), false, origin, open);

    /// <summary>Everything the namespace answers about every reachable inode, as text.</summary>
    private static async Task<List<string>> Dump(IActorRef e)
    {
        var lines = new List<string>();
        await Walk(Root, "/");
        return lines;

        async Task Walk(ulong ino, string path)
        {
            var attr = (await Q(e, new NsGetAttr(V, ino))).Attr!;
            lines.Add($"{path} {attr}");
            foreach (var name in (await Q(e, new NsListXattr(V, ino))).Names!)
                lines.Add($"{path} xattr {Convert.ToHexString(name)}={Convert.ToHexString((await Q(e, new NsGetXattr(V, ino, name))).Bytes!)}");
            if (ModeBits.IsSymlink(attr.Mode)) lines.Add($"{path} -> {Encoding.UTF8.GetString((await Q(e, new NsReadLink(V, ino))).Bytes!)}");
            if (!ModeBits.IsDirectory(attr.Mode)) return;
            var dir = await Q(e, new NsReadDir(V, ino));
            lines.Add($"{path} parent {dir.Count}");
            foreach (var entry in dir.Entries!)
            {
                var child = path + Convert.ToHexString(entry.Name) + "/";
                lines.Add($"{path} entry {Convert.ToHexString(entry.Name)} {entry.Ino} {entry.Mode}");
                await Walk(entry.Ino, child);
            }
        }
    }

    private long SnapshotRows(string persistenceId) =>
        Count(Db, $"SELECT COUNT(*) FROM snapshot WHERE persistence_id = '{persistenceId}'");

    // ---------------------------------------------------------------- persistence

    [Fact]
    public async Task A_numbered_change_sent_again_gets_its_first_answer_also_after_recovery()
    {
        var e = Entity();
        var make = new NsMakeNode(V, 0, Root, Encoding.UTF8.GetBytes("once"), File, 0, 0, 0, null, false, "n1", false, RequestId: 42);
        var first = await Ok(e, make);
        Assert.Equal(first, await Ok(e, make)); // the node asked again: same answer, not EEXIST
        StopAndWait(e);
        var again = Entity();
        Assert.Equal(first, await Ok(again, make)); // remembered through the journal
        var listing = await Q(again, new NsReadDir(V, Root));
        Assert.Single(listing.Entries!);
    }

    [Fact]
    public async Task The_tree_survives_a_restart_and_a_new_actor_system_across_snapshots()
    {
        var e = Entity();
        var d = await Ok(e, Make(Root, "dir", Dir));
        Assert.True(d.CtimeNs > 0, "the entity stamps the time");
        var f = await Ok(e, Make(d.Ino, "file", File));
        await Ok(e, new NsWritten(V, 0, f.Ino, 12345, false, "n1", 0));
        await Ok(e, Make(Root, "link", ModeBits.Symlink | 0x1FF, target: "dir/file"));
        Assert.True((await Q(e, new NsSetXattr(V, 0, f.Ino, N("user.colour"), N("blue"), 0, "n1"))).IsOk);
        Assert.True((await Q(e, new NsSetXattr(V, 0, d.Ino, [0xE8], [0, 1, 2], 0, "n1"))).IsOk); // 6 events: one snapshot
        await Ok(e, new NsLink(V, 0, f.Ino, Root, N("hard"), "n1"));
        Assert.True((await Q(e, new NsRename(V, 0, d.Ino, N("file"), Root, N("moved"), 0, 0, 0, "n1"))).IsOk);
        await Ok(e, Make(d.Ino, "sub", Dir));
        await Ok(e, new NsSetAttr(V, 0, f.Ino, (uint)(SetAttrValid.Mode | SetAttrValid.Mtime), 0x180, 0, 0, 0, 0, 42, 0, "n1"));
        Assert.True((await Q(e, new NsRemove(V, 0, d.Ino, N("sub"), true, "n1"))).IsOk); // 11 events: two snapshots
        Assert.Equal((int)Errno.EEXIST, (await Q(e, Make(Root, "dir", Dir))).Errno); // refused: not persisted
        await Ok(e, Make(Root, "last", ModeBits.Fifo | 0x1A4)); // 12
        var before = await Dump(e);
        Assert.Contains(before, l => l.EndsWith("-> dir/file", StringComparison.Ordinal));
        AwaitAssert(() => Assert.True(SnapshotRows("ns-" + V) >= 1), T);

        StopAndWait(e);
        var again = Entity();
        Assert.Equal(before, await Dump(again));

        // It goes on from there: the next inode number is not reused.
        var more = await Ok(again, Make(Root, "more", File));
        Assert.True(more.Ino > f.Ino);
        await Ok(again, new NsWritten(V, 0, more.Ino, 7, false, "n1", 0));
        await Ok(again, Make(Root, "more2", File)); // 15 events: a snapshot right at the end
        var after = await Dump(again);
        StopAndWait(again);

        var other = OtherSystem();
        var third = Entity(other);
        Assert.Equal(after, await Dump(third));
        await other.Terminate().WaitAsync(T);
    }

    [Fact]
    public async Task Mutations_sent_without_waiting_recover_to_the_same_tree()
    {
        // Many callers at once: the entity applies mutation after mutation while the journal is still writing the
        // first ones. Snapshots taken meanwhile must hold the state at their own event, not a later one: replaying
        // an exchange twice, or an rmdir of the directory made after it, would give a different tree.
        var e = Entity();
        await Ok(e, Make(Root, "a", File));
        await Ok(e, Make(Root, "b", File));
        await Ok(e, Make(Root, "d", Dir));
        var probe = CreateTestProbe();
        const int count = 41;
        for (int i = 0; i < count; i++)
        {
            INamespaceMutation m = (i % 3) switch
            {
                0 => new NsRename(V, 0, Root, N("a"), Root, N("b"), 2, 0, 0, "n1"),
                1 => new NsRemove(V, 0, Root, N("d"), true, "n1"),
                _ => Make(Root, "d", Dir),
            };
            e.Tell(m, probe.Ref);
        }
        for (int i = 0; i < count; i++) Assert.True(probe.ExpectMsg<NsResult>(T).IsOk, $"mutation {i}");
        var before = await Dump(e);
        AwaitAssert(() => Assert.True(SnapshotRows("ns-" + V) >= 1), T);
        StopAndWait(e);
        Assert.Equal(before, await Dump(Entity()));
    }

    // ---------------------------------------------------------------- invalidations

    [Fact]
    public async Task Subscribers_are_told_of_changes_and_the_node_that_made_one_only_for_its_cache()
    {
        var e = Entity();
        var n1 = CreateTestProbe();
        var n2 = CreateTestProbe();
        e.Tell(new NsSubscribe(V, "n1", [], []), n1.Ref);
        n1.ExpectMsg<Subscribed>(s => s.Volume == V, T);
        e.Tell(new NsSubscribe(V, "n2", [], []), n2.Ref);
        n2.ExpectMsg<Subscribed>(T);

        var f = await Ok(e, Make(Root, "f", File, origin: "n1"));
        var inv = n2.ExpectMsg<Invalidate>(T);
        Assert.False(inv.CacheOnly);
        Assert.Contains(Root, inv.Inodes);
        var entry = Assert.Single(inv.Entries);
        Assert.Equal((Root, "f"), (entry.Parent, Encoding.UTF8.GetString(entry.Name)));
        // n1 made it: told too, for its metadata cache only (its kernel learnt from the answer).
        var own = n1.ExpectMsg<Invalidate>(T);
        Assert.True(own.CacheOnly);
        Assert.Equal(inv with { CacheOnly = true, Seq = own.Seq }, own, new InvalidateComparer());

        var g = await Ok(e, Make(Root, "g", File, origin: "n2"));
        inv = n1.ExpectMsg<Invalidate>(T);
        Assert.False(inv.CacheOnly);
        Assert.Equal("g", Encoding.UTF8.GetString(Assert.Single(inv.Entries).Name));
        Assert.True(n2.ExpectMsg<Invalidate>(T).CacheOnly);
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n1"))).IsOk);
        Assert.True(n1.ExpectMsg<Invalidate>(T).CacheOnly);
        inv = n2.ExpectMsg<Invalidate>(T);
        Assert.Empty(inv.Entries);
        var del = Assert.Single(inv.Deletes);
        Assert.Equal((Root, f.Ino, "f"), (del.Parent, del.Child, Encoding.UTF8.GetString(del.Name)));

        // A refused mutation tells nobody.
        Assert.Equal((int)Errno.ENOENT, (await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n2"))).Errno);
        await Ok(e, new NsWritten(V, 0, g.Ino, 1, false, "n2", 0));
        Assert.Equal(new[] { g.Ino }, n1.ExpectMsg<Invalidate>(T).Inodes);
    }

    /// <summary>Compares invalidations by content (records compare arrays by reference).</summary>
    private sealed class InvalidateComparer : IEqualityComparer<Invalidate>
    {
        private static string Show(Invalidate i) =>
            $"{string.Join(",", i.Inodes)}|{string.Join(",", i.Entries.Select(e => $"{e.Parent}/{Convert.ToHexString(e.Name)}"))}|" +
            $"{string.Join(",", i.Deletes.Select(d => $"{d.Parent}/{d.Child}/{Convert.ToHexString(d.Name)}"))}|{i.Version}|{i.Incarnation}|{i.Seq}|{i.CacheOnly}";
        public bool Equals(Invalidate? x, Invalidate? y) => x is not null && y is not null && Show(x) == Show(y);
        public int GetHashCode(Invalidate obj) => Show(obj).GetHashCode();
    }

    [Fact]
    public async Task Answers_and_invalidations_are_stamped_for_the_nodes_caches()
    {
        var e = Entity();
        var n1 = CreateTestProbe();
        var n2 = CreateTestProbe();
        e.Tell(new NsSubscribe(V, "n1", [], []), n1.Ref);
        var s1 = n1.ExpectMsg<Subscribed>(T);
        e.Tell(new NsSubscribe(V, "n2", [], []), n2.Ref);
        n2.ExpectMsg<Subscribed>(T);
        Assert.NotEqual(0, s1.Incarnation);
        Assert.Equal(0, s1.Seq);

        // n1 creates f: its answer carries the version, the parent's new attributes and the new name as it is now.
        var made = await Q(e, Make(Root, "f", File, origin: "n1"));
        Assert.Equal(s1.Version + 1, made.Version);
        Assert.Equal(s1.Incarnation, made.Incarnation);
        var root = await Q(e, new NsGetAttr(V, Root));
        Assert.Equal(made.Version, root.Version);
        Assert.Contains(made.Changed!, a => a == root.Attr);
        var name = Assert.Single(made.ChangedEntries!);
        Assert.Equal((Root, "f", made.Attr!.Ino), (name.Parent, Encoding.UTF8.GetString(name.Name), name.Ino));

        // n2 is told, numbered 1, with the same version; n1 too, for its cache only.
        var inv = n2.ExpectMsg<Invalidate>(T);
        Assert.Equal((1L, made.Version, made.Incarnation, false), (inv.Seq, inv.Version, inv.Incarnation, inv.CacheOnly));
        var own = n1.ExpectMsg<Invalidate>(T);
        Assert.Equal((1L, made.Version, true), (own.Seq, own.Version, own.CacheOnly));

        // n1 removes f: the name resolves to no inode; n2's second invalidation is numbered 2.
        var removed = await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n1"));
        Assert.Equal(0UL, Assert.Single(removed.ChangedEntries!).Ino);
        Assert.Equal(2, n2.ExpectMsg<Invalidate>(T).Seq);

        // A query's answer has the version it was read at; a re-subscription repeats the last number sent.
        var lookup = await Q(e, new NsLookup(V, Root, N("f")));
        Assert.Equal((int)Errno.ENOENT, lookup.Errno);
        Assert.Equal(removed.Version, lookup.Version);
        e.Tell(new NsSubscribe(V, "n2", [], []), n2.Ref);
        var s2 = n2.ExpectMsg<Subscribed>(T);
        Assert.Equal((2L, removed.Version), (s2.Seq, s2.Version));
    }

    [Fact]
    public async Task A_freed_inode_is_dropped_from_every_nodes_cache()
    {
        var e = Entity();
        await WaitForGrace(e);
        var n1 = CreateTestProbe();
        e.Tell(new NsSubscribe(V, "n1", [], []), n1.Ref);
        n1.ExpectMsg<Subscribed>(T);
        var f = await Ok(e, Make(Root, "f", File, origin: "n2", open: true));
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n2"))).IsOk);
        Assert.True((await Q(e, new NsClose(V, f.Ino, "n2"))).IsOk);
        // (The witness WaitForGrace freed may be told first: its broadcast follows its commit.)
        var gone = n1.FishForMessage<Invalidate>(i => i.Entries.Length == 0 && i.Deletes.Length == 0 && i.Inodes.SequenceEqual([f.Ino]), T);
        Assert.True(gone.CacheOnly);
    }

    // ---------------------------------------------------------------- opens and orphans

    /// <summary>Waits until the orphan grace after recovery is over: an unlinked file nobody holds is then freed.</summary>
    private async Task WaitForGrace(IActorRef e)
    {
        var witness = await Ok(e, Make(Root, "witness", File));
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("witness"), false, "n1"))).IsOk);
        await AwaitAssertAsync(async () => Assert.Equal((int)Errno.ENOENT, (await Q(e, new NsGetAttr(V, witness.Ino))).Errno), T);
    }

    [Fact]
    public async Task An_unlinked_open_file_stays_until_the_last_node_closes_it_then_its_chunks_are_purged()
    {
        var chunks = CreateTestProbe();
        var e = Entity(chunks: chunks.Ref);
        await WaitForGrace(e);
        var f = await Ok(e, Make(Root, "f", File, origin: "n1", open: true));
        await Ok(e, new NsWritten(V, 0, f.Ino, 3 * 4096 + 1, false, "n1", 0)); // four chunks
        await Ok(e, new NsOpen(V, f.Ino, "n2"));
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n1"))).IsOk);

        var orphan = await Ok(e, new NsGetAttr(V, f.Ino));
        Assert.Equal(0u, orphan.Nlink);
        Assert.Equal(3 * 4096 + 1UL, orphan.Size);
        Assert.Equal((int)Errno.ENOENT, (await Q(e, new NsLookup(V, Root, N("f")))).Errno);

        Assert.True((await Q(e, new NsClose(V, f.Ino, "n1"))).IsOk);
        Assert.True((await Q(e, new NsClose(V, f.Ino, "n3"))).IsOk); // never opened it: changes nothing
        Assert.True((await Q(e, new NsGetAttr(V, f.Ino))).IsOk, "n2 still holds it open");

        Assert.True((await Q(e, new NsClose(V, f.Ino, "n2"))).IsOk);
        await AwaitAssertAsync(async () => Assert.Equal((int)Errno.ENOENT, (await Q(e, new NsGetAttr(V, f.Ino))).Errno), T);
        var purged = Enumerable.Range(0, 4).Select(_ => chunks.ExpectMsg<ChunkPurge>(T)).ToList();
        Assert.All(purged, p => Assert.Equal((V, f.Ino), (p.Volume, p.Ino)));
        Assert.Equal(new long[] { 0, 1, 2, 3 }, purged.Select(p => p.Index).Order());
        chunks.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // The free was persisted: a new incarnation does not have it either.
        StopAndWait(e);
        Assert.Equal((int)Errno.ENOENT, (await Q(Entity(), new NsGetAttr(V, f.Ino))).Errno);
    }

    [Fact]
    public async Task A_dead_node_releases_its_open_files()
    {
        var chunks = CreateTestProbe();
        var e = Entity(chunks: chunks.Ref);
        await WaitForGrace(e);
        var n1 = CreateTestProbe();
        e.Tell(new NsSubscribe(V, "n1", [], []), n1.Ref);
        n1.ExpectMsg<Subscribed>(T);
        var f = await Ok(e, Make(Root, "f", File, origin: "n1", open: true));
        await Ok(e, new NsWritten(V, 0, f.Ino, 10, false, "n1", 0));
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n1"))).IsOk);
        Assert.Equal(0u, (await Ok(e, new NsGetAttr(V, f.Ino))).Nlink);

        Sys.Stop(n1.Ref);
        await AwaitAssertAsync(async () => Assert.Equal((int)Errno.ENOENT, (await Q(e, new NsGetAttr(V, f.Ino))).Errno), T);
        var purge = chunks.ExpectMsg<ChunkPurge>(T);
        Assert.Equal((f.Ino, 0L), (purge.Ino, purge.Index));
    }

    [Fact]
    public async Task Opens_announced_in_a_first_subscription_are_kept_after_a_restart()
    {
        var e = Entity();
        var f = await Ok(e, Make(Root, "f", File, origin: "n1", open: true));
        Assert.True((await Q(e, new NsRemove(V, 0, Root, N("f"), false, "n1"))).IsOk);
        StopAndWait(e);

        // The new incarnation knows nothing of n1's open; n1 re-announces it within the grace.
        var again = Entity();
        var n1 = CreateTestProbe();
        again.Tell(new NsSubscribe(V, "n1", [f.Ino], []), n1.Ref);
        n1.ExpectMsg<Subscribed>(T);
        await WaitForGrace(again);
        Assert.Equal(0u, (await Ok(again, new NsGetAttr(V, f.Ino))).Nlink);
        Assert.True((await Q(again, new NsClose(V, f.Ino, "n1"))).IsOk);
        await AwaitAssertAsync(async () => Assert.Equal((int)Errno.ENOENT, (await Q(again, new NsGetAttr(V, f.Ino))).Errno), T);
    }

    // ---------------------------------------------------------------- locks

    private static NsLock Lock(string node, ulong ino, LockType type, bool wait = false, ulong waitId = 0, bool test = false, ulong owner = 1) =>
        new(V, node, new HeldLock(ino, owner, 0, 99, (int)type, 100, false), test, wait, waitId);

    [Fact]
    public async Task A_conflicting_lock_is_refused_and_a_waiting_one_is_granted_when_the_holder_unlocks()
    {
        var e = Entity();
        var f = await Ok(e, Make(Root, "f", File));
        var n1 = CreateTestProbe();
        var n2 = CreateTestProbe();

        e.Tell(Lock("n1", f.Ino, LockType.Write, waitId: 1), n1.Ref);
        Assert.Equal(0, n1.ExpectMsg<LockResult>(T).Errno);
        e.Tell(Lock("n2", f.Ino, LockType.Read, waitId: 2), n2.Ref);
        Assert.Equal(new LockResult((int)Errno.EAGAIN, null, 2), n2.ExpectMsg<LockResult>(T));
        e.Tell(Lock("n2", f.Ino, LockType.Write, test: true, waitId: 3), n2.Ref);
        var test = n2.ExpectMsg<LockResult>(T);
        Assert.Equal((0, 3UL), (test.Errno, test.WaitId));
        // Held on another node: its pid (100 there) is reported as 0, which names no process here.
        Assert.Equal((f.Ino, (int)LockType.Write, 0UL, 99UL, 0u), (test.Conflict!.Ino, test.Conflict.Type, test.Conflict.Start, test.Conflict.End, test.Conflict.Pid));
        // Held on the asking node by another owner: the holder's own pid.
        e.Tell(Lock("n1", f.Ino, LockType.Write, test: true, waitId: 4, owner: 2), n1.Ref);
        Assert.Equal(100u, n1.ExpectMsg<LockResult>(T).Conflict!.Pid);

        e.Tell(Lock("n2", f.Ino, LockType.Write, wait: true, waitId: 7), n2.Ref);
        // Not granted yet: n2's next answer is the one to a later test.
        e.Tell(Lock("n2", f.Ino, LockType.Write, test: true, waitId: 8), n2.Ref);
        Assert.Equal(8UL, n2.ExpectMsg<LockResult>(T).WaitId);

        e.Tell(Lock("n1", f.Ino, LockType.Unlock, waitId: 9), n1.Ref);
        Assert.Equal(new LockResult(0, null, 9), n1.ExpectMsg<LockResult>(T));
        Assert.Equal(new LockResult(0, null, 7), n2.ExpectMsg<LockResult>(T));
        // Now n1 is the one refused.
        e.Tell(Lock("n1", f.Ino, LockType.Read, waitId: 10), n1.Ref);
        Assert.Equal((int)Errno.EAGAIN, n1.ExpectMsg<LockResult>(T).Errno);

        e.Tell(Lock("n1", 999, LockType.Read, waitId: 11), n1.Ref);
        Assert.Equal(new LockResult((int)Errno.ENOENT, null, 11), n1.ExpectMsg<LockResult>(T));
    }

    [Fact]
    public async Task A_waiting_lock_is_granted_when_the_holders_node_dies()
    {
        var e = Entity();
        var f = await Ok(e, Make(Root, "f", File));
        var n1 = CreateTestProbe();
        var n2 = CreateTestProbe();
        e.Tell(new NsSubscribe(V, "n1", [], []), n1.Ref);
        n1.ExpectMsg<Subscribed>(T);

        e.Tell(Lock("n1", f.Ino, LockType.Write, waitId: 1), n1.Ref);
        Assert.Equal(0, n1.ExpectMsg<LockResult>(T).Errno);
        e.Tell(Lock("n2", f.Ino, LockType.Write, wait: true, waitId: 5), n2.Ref);
        e.Tell(Lock("n2", f.Ino, LockType.Write, test: true, waitId: 6), n2.Ref);
        Assert.Equal(6UL, n2.ExpectMsg<LockResult>(T).WaitId); // still waiting

        Sys.Stop(n1.Ref);
        Assert.Equal(new LockResult(0, null, 5), n2.ExpectMsg<LockResult>(T));
        e.Tell(Lock("n2", f.Ino, LockType.Write, test: true, waitId: 12, owner: 2), n2.Ref);
        Assert.Equal((int)LockType.Write, n2.ExpectMsg<LockResult>(T).Conflict!.Type); // n2's owner 1 holds it now
    }
}
