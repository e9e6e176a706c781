using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Node;
using Xunit;
using Lookup = FuseActors.Filesystems.Cluster.Node.NodeMetadataCache.Lookup;

namespace FuseActors.Cluster.Tests;

/// <summary>A node's metadata cache answers only what it can prove is current: never an answer read before a change
/// it has been told of, nothing after a lost invalidation or from a namespace run it is not subscribed to.</summary>
public class NodeMetadataCacheTests
{
    private const long Inc = 638_000_000_000_000_000;
    private const ulong Root = 1;

    private static byte[] N(string s) => Encoding.UTF8.GetBytes(s);
    private static NodeAttr File(ulong ino, ulong size = 0) => new(ino, ModeBits.Regular | 0x1A4, 1, 0, 0, 0, size, 1, 2, 3);
    private static NodeAttr Dir(ulong ino) => new(ino, ModeBits.Directory | 0x1ED, 2, 0, 0, 0, 0, 1, 2, 3);
    private static NsResult Answer(NodeAttr? a, long version, long incarnation = Inc) => new(0, a, Version: version, Incarnation: incarnation);
    private static NsResult NoSuchName(long version) => new((int)Errno.ENOENT, Version: version, Incarnation: Inc);
    private static Invalidate Told(long seq, long version, ulong[]? inodes = null, EntryRef[]? entries = null, long incarnation = Inc) =>
        new(inodes ?? [], entries ?? [], [], version, incarnation, seq);

    // A clock the tests move by hand, and a lease of 3 s on it.
    private long _now = 1_000_000;
    private NodeMetadataCache New(int capacity = 1000) => new(capacity, TimeSpan.FromSeconds(3), () => _now);

    private NodeMetadataCache Subscribed(long version = 0, long seq = 0)
    {
        var c = New();
        c.Subscribed(new Subscribed("v", Inc, seq, version));
        return c;
    }

    [Fact]
    public void Nothing_is_cached_before_the_node_is_subscribed_to_the_namespace_that_answered()
    {
        var c = New();
        c.Answered(Answer(File(5), 1));
        Assert.False(c.TryGetAttr(5, out _));

        c.Subscribed(new Subscribed("v", Inc, 0, 1));
        c.Answered(Answer(File(5), 1));
        Assert.True(c.TryGetAttr(5, out var a));
        Assert.Equal(5UL, a.Ino);
    }

    [Fact]
    public void An_answer_read_before_a_change_the_node_was_told_of_is_not_cached()
    {
        var c = Subscribed(version: 10);
        // The namespace answered GETATTR at version 11, then applied change 12 and told this node; the invalidation
        // arrived first.
        c.Invalidated(Told(1, 12, inodes: [5]));
        c.Answered(Answer(File(5, size: 1), 11));
        Assert.False(c.TryGetAttr(5, out _));
        // An answer read after it is.
        c.Answered(Answer(File(5, size: 2), 12));
        Assert.True(c.TryGetAttr(5, out var a));
        Assert.Equal(2UL, a.Size);
    }

    [Fact]
    public void An_invalidation_drops_the_inode_the_name_and_what_was_known_of_the_directory()
    {
        var c = Subscribed();
        c.Listed(Root, new NsResult(0, Entries: [new DirEntry(N("a"), 5, ModeBits.Regular)], Version: 1, Incarnation: Inc));
        c.LookedUp(Root, N("a"), Answer(File(5), 1));
        Assert.Equal(Lookup.Found, c.TryLookup(Root, N("a"), out _));
        Assert.Equal(Lookup.Absent, c.TryLookup(Root, N("b"), out _));

        c.Invalidated(Told(1, 2, entries: [new EntryRef(Root, N("b"))]));
        Assert.Equal(Lookup.Unknown, c.TryLookup(Root, N("b"), out _));   // another node made b: ask
        Assert.Equal(Lookup.Found, c.TryLookup(Root, N("a"), out _));

        c.Invalidated(Told(2, 3, inodes: [5]));
        Assert.False(c.TryGetAttr(5, out _));
        Assert.Equal(Lookup.Unknown, c.TryLookup(Root, N("a"), out _));
    }

    [Fact]
    public void A_lost_invalidation_empties_the_cache()
    {
        var c = Subscribed();
        c.Answered(Answer(File(5), 1));
        c.Invalidated(Told(1, 2, inodes: [6]));
        Assert.True(c.TryGetAttr(5, out _));
        long clears = c.Clears;

        c.Invalidated(Told(3, 4, inodes: [7]));   // number 2 never came: it may have been about inode 5
        Assert.False(c.TryGetAttr(5, out _));
        Assert.Equal(clears + 1, c.Clears);

        // The same when the lost one was the last: the next subscription names it.
        c.Answered(Answer(File(5), 4));
        Assert.True(c.TryGetAttr(5, out _));
        c.Subscribed(new Subscribed("v", Inc, 4, 5));
        Assert.False(c.TryGetAttr(5, out _));
        // Nothing lost: nothing dropped.
        c.Answered(Answer(File(5), 5));
        c.Subscribed(new Subscribed("v", Inc, 4, 5));
        Assert.True(c.TryGetAttr(5, out _));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]   // the entity moved to a machine whose clock is behind: another run all the same
    public void Another_run_of_the_namespace_empties_the_cache_until_the_node_subscribes_to_it(long step)
    {
        long next = Inc + step;
        var c = Subscribed();
        c.Answered(Answer(File(5), 1));
        // The entity moved: an answer from its new run.
        c.Answered(Answer(File(6), 1, next));
        Assert.False(c.TryGetAttr(5, out _));
        Assert.False(c.TryGetAttr(6, out _));
        c.Subscribed(new Subscribed("v", next, 0, 1));
        c.Answered(Answer(File(6), 1, next));
        Assert.True(c.TryGetAttr(6, out _));
        // A late answer from the old run empties it again and caches nothing; the next subscription puts it right.
        c.Answered(Answer(File(7), 9));
        Assert.False(c.TryGetAttr(7, out _));
        Assert.False(c.TryGetAttr(6, out _));
        c.Subscribed(new Subscribed("v", next, 0, 1));
        c.Answered(Answer(File(6), 1, next));
        Assert.True(c.TryGetAttr(6, out _));
    }

    [Fact]
    public void The_cache_answers_only_while_the_namespace_keeps_confirming_the_subscription()
    {
        var c = Subscribed();
        c.Answered(Answer(File(5), 1));
        _now += 2_000;
        c.Subscribed(new Subscribed("v", Inc, 0, 1));
        _now += 2_900;
        Assert.True(c.TryGetAttr(5, out _));
        // No confirmation for over 3 s (a partition, a namespace that cannot reach its store): nothing is answered,
        // nothing kept.
        _now += 200;
        Assert.False(c.TryGetAttr(5, out _));
        c.Answered(Answer(File(5), 1));
        Assert.False(c.TryGetAttr(5, out _));
        c.Subscribed(new Subscribed("v", Inc, 0, 1));
        Assert.False(c.TryGetAttr(5, out _));
        c.Answered(Answer(File(5), 1));
        Assert.True(c.TryGetAttr(5, out _));
    }

    [Fact]
    public void The_invalidation_of_a_change_made_here_keeps_what_its_answer_set_and_covers_an_answer_that_never_came()
    {
        var c = Subscribed();
        var root = Dir(Root) with { MtimeNs = 50 };
        c.Changed(new NsResult(0, File(8), Version: 1, Incarnation: Inc, Changed: [root], ChangedEntries: [new ResolvedEntry(Root, N("f"), 8)]));
        c.Invalidated(new Invalidate([Root], [new EntryRef(Root, N("f"))], [], 1, Inc, 1, CacheOnly: true));
        Assert.True(c.TryGetAttr(Root, out _));
        Assert.Equal(Lookup.Found, c.TryLookup(Root, N("f"), out _));

        // Change 2 was made here but its answer never came (interrupted): an answer read before it, arriving late,
        // was cached; the change's invalidation drops it.
        c.Answered(Answer(File(8, size: 0), 1));
        c.Invalidated(new Invalidate([8], [], [], 2, Inc, 2, CacheOnly: true));
        Assert.False(c.TryGetAttr(8, out _));
    }

    [Fact]
    public void A_change_made_here_updates_the_cache_from_its_answer()
    {
        var c = Subscribed();
        c.Answered(Answer(Dir(Root), 1));
        c.LookedUp(Root, N("f"), NoSuchName(1));
        Assert.Equal(Lookup.Absent, c.TryLookup(Root, N("f"), out _));

        var newRoot = Dir(Root) with { MtimeNs = 99 };
        c.Changed(new NsResult(0, File(8), Version: 2, Incarnation: Inc, Changed: [newRoot], ChangedEntries: [new ResolvedEntry(Root, N("f"), 8)]));
        Assert.True(c.TryGetAttr(Root, out var root));
        Assert.Equal(99, root.MtimeNs);
        Assert.Equal(Lookup.Found, c.TryLookup(Root, N("f"), out var f));
        Assert.Equal(8UL, f!.Ino);

        // A GETATTR answered before that change (version 1) arriving late does not undo it.
        c.Answered(Answer(Dir(Root), 1));
        Assert.Equal(99, c.TryGetAttr(Root, out root) ? root.MtimeNs : 0);

        // Removed here: the name is known to be gone.
        c.Changed(new NsResult(0, Version: 3, Incarnation: Inc, ChangedEntries: [new ResolvedEntry(Root, N("f"), 0)]));
        Assert.Equal(Lookup.Absent, c.TryLookup(Root, N("f"), out _));
    }

    [Fact]
    public void A_change_whose_effects_are_not_told_empties_the_cache()
    {
        var c = Subscribed();
        c.Answered(Answer(File(5), 1));
        // A duplicate request's first answer comes back unstamped.
        c.Changed(new NsResult(0, File(5)));
        Assert.False(c.TryGetAttr(5, out _));
        // A refused change changed nothing.
        c.Answered(Answer(File(5), 1));
        c.Changed(NsResult.Error(Errno.EEXIST));
        Assert.True(c.TryGetAttr(5, out _));
    }

    [Fact]
    public void A_change_answered_after_a_newer_invalidation_drops_what_it_touched()
    {
        var c = Subscribed();
        c.Answered(Answer(File(5), 1));
        c.LookedUp(Root, N("f"), Answer(File(5), 1));
        c.Invalidated(Told(1, 3, inodes: [9]));
        // This node's change 2 comes back after change 3: what it says is not current.
        c.Changed(new NsResult(0, Version: 2, Incarnation: Inc, Changed: [File(5, 10)], ChangedEntries: [new ResolvedEntry(Root, N("f"), 5)]));
        Assert.False(c.TryGetAttr(5, out _));
        Assert.Equal(Lookup.Unknown, c.TryLookup(Root, N("f"), out _));
    }

    [Fact]
    public void A_directory_made_here_is_known_to_be_empty()
    {
        var c = Subscribed();
        var made = new NsResult(0, Dir(20), Version: 1, Incarnation: Inc, Changed: [Dir(Root)], ChangedEntries: [new ResolvedEntry(Root, N("d"), 20)]);
        c.Changed(made);
        c.MadeDirectory(made);
        Assert.Equal(Lookup.Absent, c.TryLookup(20, N("anything"), out _));
        Assert.Equal(Lookup.Unknown, c.TryLookup(Root, N("other"), out _));
        // Not even there is a name over 255 bytes absent: the namespace refuses it with ENAMETOOLONG.
        Assert.Equal(Lookup.Unknown, c.TryLookup(20, N(new string('x', 256)), out _));
    }

    [Fact]
    public void A_full_cache_starts_again_empty()
    {
        var c = New(3);
        c.Subscribed(new Subscribed("v", Inc, 0, 0));
        for (ulong i = 1; i <= 3; i++) c.Answered(Answer(File(i), 1));
        Assert.Equal(3, c.Count);
        c.Answered(Answer(File(4), 1));
        Assert.Equal(1, c.Count);
        Assert.True(c.TryGetAttr(4, out _));
    }
}
