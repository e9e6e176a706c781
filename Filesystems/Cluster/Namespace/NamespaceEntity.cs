using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;

namespace FuseActors.Filesystems.Cluster.Namespace;

/// <summary>
/// The namespace of one volume as a sharded, persistent entity: it holds <see cref="NamespaceState"/>, answers
/// queries from it, and persists every accepted mutation before answering it. Mutations are applied at once and
/// persisted with <c>PersistAsync</c>, so the journal writes of many callers are batched into one commit (an fsync
/// costs ~0.9 ms here), while each caller's answer still waits for its own event to be durable.
///
/// It also keeps what belongs to live nodes and is not persisted: the subscribed nodes (told what changed, so
/// their kernels drop stale caches), which node holds which file open (an unlinked file stays until its last
/// close anywhere), and the locks. A node that dies (its subscriber terminates) loses its opens and locks.
/// When the entity moves to another node, nodes find it again by re-subscribing and re-announce their opens and
/// locks; unlinked files nobody re-announces within the orphan grace are freed.
/// </summary>
public sealed class NamespaceEntity : UntypedPersistentActor
{
    private readonly ClusterFsSettings _settings;
    private readonly IActorRef _chunks;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NamespaceState.Changes _changes = new();
    private NamespaceState _state;

    private readonly Dictionary<string, IActorRef> _subscribers = new();
    private readonly Dictionary<IActorRef, string> _subscriberNodes = new();
    // ino -> nodes that hold it open
    private readonly Dictionary<ulong, HashSet<string>> _opens = new();
    private readonly NamespaceLocks _locks = new();
    private bool _graceOver;
    private long _lastTime;
    // The sequence number of the last event handed to PersistAsync (LastSequenceNr lags behind it until the journal answers).
    private long _persisting;
    // Stamps for the nodes' metadata caches (see NsResult): changes applied since this run of the entity started,
    // and when it started (a later run has a larger incarnation; versions restart with it).
    private long _version;
    private readonly long _incarnation = DateTime.UtcNow.Ticks;
    // Per node: the Seq of the last Invalidate sent to it.
    private readonly Dictionary<string, long> _sentSeq = new();

    public NamespaceEntity(string volume, ClusterFsSettings settings, IActorRef chunks)
    {
        Volume = volume;
        _settings = settings;
        _chunks = chunks;
        _state = new NamespaceState(settings.ChunkSize);
    }

    public string Volume { get; }
    public override string PersistenceId => "ns-" + Volume;

    public static Props Props(string volume, ClusterFsSettings settings, IActorRef chunks) =>
        Akka.Actor.Props.Create(() => new NamespaceEntity(volume, settings, chunks));

    private sealed class GraceOver
    {
        public static readonly GraceOver Instance = new();
    }

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: NamespaceSnapshot s }:
                _state = NamespaceState.FromSnapshot(s, _settings.ChunkSize);
                break;
            case INamespaceMutation m:
                _changes.Clear();
                _state.Apply(m, _changes);
                _lastTime = Math.Max(_lastTime, m.Time);
                break;
            case RecoveryCompleted:
                _persisting = LastSequenceNr;
                _log.Info("namespace {0} recovered: {1} inodes, at event {2}", Volume, _state.InodeCount, LastSequenceNr);
                Context.System.Scheduler.ScheduleTellOnce(_settings.OrphanGrace, Self, GraceOver.Instance, Self);
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        try
        {
            Handle(message);
        }
        catch (Exception e) when (message is INamespaceMessage)
        {
            // A bug must not leave the caller waiting for its timeout, nor a half-applied change in memory: answer
            // EIO, then restart, which recovers the state from the journal.
            _log.Error(e, "namespace {0}: {1} failed; answering EIO and recovering from the journal", Volume, message.GetType().Name);
            Sender.Tell(message is NsLock l ? new LockResult((int)Errno.EIO, null, l.WaitId) : NsResult.Error(Errno.EIO));
            throw;
        }
    }

    private void Handle(object message)
    {
        switch (message)
        {
            case INamespaceMutation m:
                Mutate(m, Sender);
                break;
            case NsLookup q: Sender.Tell(Stamp(_state.Lookup(q.Parent, q.Name))); break;
            case NsGetAttr q: Sender.Tell(Stamp(_state.GetAttr(q.Ino))); break;
            case NsReadDir q: Sender.Tell(Stamp(_state.ReadDir(q.Ino))); break;
            case NsReadLink q: Sender.Tell(_state.ReadLink(q.Ino)); break;
            case NsGetXattr q: Sender.Tell(_state.GetXattr(q.Ino, q.Name)); break;
            case NsListXattr q: Sender.Tell(_state.ListXattr(q.Ino)); break;
            case NsStatFs: Sender.Tell(_state.StatFs()); break;
            case NsChunks q: Sender.Tell(_state.Chunks(q.Ino, q.From)); break;
            case NsSubscribe s: Subscribe(s, Sender); break;
            case NsOpen o: Open(o); break;
            case NsClose c: Close(c.Ino, c.Node); break;
            case NsLock l: Lock(l, Sender); break;
            case NsCancelLockWait c: _locks.CancelWait(c.Node, c.WaitId); break;
            case Terminated t: NodeGone(t.ActorRef); break;
            case GraceOver: _graceOver = true; FreeUnheldOrphans(); break;
            case SaveSnapshotSuccess s:
                DeleteMessages(s.Metadata.SequenceNr);
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
                break;
            case SaveSnapshotFailure f: _log.Warning("namespace {0}: snapshot failed: {1}", Volume, f.Cause.Message); break;
            case DeleteMessagesSuccess or DeleteSnapshotsSuccess: break;
            case DeleteMessagesFailure f: _log.Warning("namespace {0}: deleting old events failed: {1}", Volume, f.Cause.Message); break;
            case DeleteSnapshotsFailure f: _log.Warning("namespace {0}: deleting old snapshots failed: {1}", Volume, f.Cause.Message); break;
            default: Unhandled(message); break;
        }
    }

    /// <summary>An answer stamped with the state it was read from (nodes cache what they can prove is current).</summary>
    private NsResult Stamp(NsResult r) => r with { Version = _version, Incarnation = _incarnation };

    private long Now()
    {
        // Strictly increasing, so replay order and time order agree even if the clock steps back.
        long now = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        _lastTime = Math.Max(now, _lastTime + 1);
        return _lastTime;
    }

    private void Mutate(INamespaceMutation m, IActorRef replyTo)
    {
        m = m.WithTime(Now());
        _changes.Clear();
        var result = _state.Apply(m, _changes);
        if (_changes.Duplicate)
        {
            // Sent again by its node (its first try's answer was lost): the first answer, once everything persisted
            // before now is durable, and nothing is persisted twice.
            DeferAsync(result, r => replyTo.Tell(r));
            return;
        }
        if (!result.IsOk)
        {
            replyTo.Tell(result);
            return;
        }
        _version++;
        var invalidate = _changes.IsEmpty ? null : _changes.ToInvalidate() with { Version = _version, Incarnation = _incarnation };
        var unlinked = _changes.Unlinked.Count == 0 ? null : _changes.Unlinked.ToArray();
        string? origin = Origin(m);
        if (m is NsMakeNode { Open: true } make && result.Attr is { } created) AddOpen(created.Ino, make.Origin);
        // The node that made the change gets no Invalidate: its answer says what changed, as it is now.
        var answer = Stamp(result) with { Changed = ChangedAttrs(), ChangedEntries = ChangedEntries() };
        PersistApplied(m, () =>
        {
            replyTo.Tell(answer);
            if (invalidate is not null) Broadcast(invalidate, origin);
            if (unlinked is not null)
                foreach (var ino in unlinked) FreeIfUnheld(ino);
        });
    }

    private static string? Origin(INamespaceMutation m) => m switch
    {
        NsMakeNode c => c.Origin,
        NsLink c => c.Origin,
        NsRemove c => c.Origin,
        NsRename c => c.Origin,
        NsSetAttr c => c.Origin,
        NsWritten c => c.Origin,
        NsAppend c => c.Origin,
        NsSetXattr c => c.Origin,
        NsRemoveXattr c => c.Origin,
        _ => null,
    };

    private NodeAttr[]? ChangedAttrs()
    {
        if (_changes.Inodes.Count == 0) return null;
        var attrs = new List<NodeAttr>(_changes.Inodes.Count);
        foreach (var ino in _changes.Inodes)
            if (_state.TryGetAttr(ino, out var a)) attrs.Add(a);
        return attrs.ToArray();
    }

    private ResolvedEntry[]? ChangedEntries()
    {
        int n = _changes.Entries.Count + _changes.Deletes.Count;
        if (n == 0) return null;
        var entries = new ResolvedEntry[n];
        int i = 0;
        foreach (var e in _changes.Entries) entries[i++] = new ResolvedEntry(e.Parent, e.Name, _state.EntryIno(e.Parent, e.Name));
        foreach (var d in _changes.Deletes) entries[i++] = new ResolvedEntry(d.Parent, d.Name, _state.EntryIno(d.Parent, d.Name));
        return entries;
    }

    /// <summary>Tells every subscribed node what a change touched; the node that made it only for its metadata cache
    /// (its kernel learnt from the answer; if the answer was lost, this still reaches its cache).</summary>
    private void Broadcast(Invalidate invalidate, string? origin)
    {
        foreach (var (node, subscriber) in _subscribers)
        {
            long seq = _sentSeq.GetValueOrDefault(node) + 1;
            _sentSeq[node] = seq;
            subscriber.Tell(invalidate with { Seq = seq, CacheOnly = invalidate.CacheOnly || node == origin });
        }
    }

    /// <summary>Persists <paramref name="m"/>, just applied to the state, and runs <paramref name="persisted"/> once it
    /// is durable. A snapshot due at its sequence number is taken now, while the state is exactly what this event left:
    /// by the time the journal answers, later mutations may have been applied too, and a snapshot holding them under
    /// this event's number would have them replayed a second time on recovery (an exchange undone, a directory made
    /// after an rmdir removed).</summary>
    private void PersistApplied(INamespaceMutation m, Action persisted)
    {
        var snapshot = ++_persisting % _settings.SnapshotEvery == 0 ? _state.ToSnapshot() : null;
        PersistAsync(m, _ =>
        {
            persisted();
            // LastSequenceNr is this event's here: the snapshot is saved under the number it was taken at.
            if (snapshot is not null) SaveSnapshot(snapshot);
        });
    }

    // ---------------------------------------------------------------- nodes, opens and orphans

    private void Subscribe(NsSubscribe s, IActorRef subscriber)
    {
        if (!_subscribers.TryGetValue(s.Node, out var known) || !known.Equals(subscriber))
        {
            if (known is not null) { Context.Unwatch(known); _subscriberNodes.Remove(known); }
            bool firstTime = known is null;
            _subscribers[s.Node] = subscriber;
            _subscriberNodes[subscriber] = s.Node;
            Context.Watch(subscriber);
            // The first subscription of a node since this entity started: adopt what it holds (after a move or a
            // restart this entity knew nothing of it). Later ones are refreshes only: the entity's own view is newer.
            if (firstTime)
            {
                foreach (var ino in s.OpenInodes) AddOpen(ino, s.Node);
                foreach (var l in s.Locks) _locks.Adopt(s.Node, l);
                _log.Info("namespace {0}: node {1} subscribed ({2} open files, {3} locks)", Volume, s.Node, s.OpenInodes.Length, s.Locks.Length);
            }
        }
        subscriber.Tell(new Subscribed(Volume, _incarnation, _sentSeq.GetValueOrDefault(s.Node), _version));
    }

    private void NodeGone(IActorRef subscriber)
    {
        if (!_subscriberNodes.Remove(subscriber, out var node)) return;
        _subscribers.Remove(node);
        // Were it to subscribe again, the numbering starts afresh: it missed what was sent meanwhile.
        _sentSeq.Remove(node);
        _log.Info("namespace {0}: node {1} is gone; releasing its opens and locks", Volume, node);
        foreach (var (lockReply, granted) in _locks.ReleaseNode(node)) lockReply.Tell(granted);
        var released = new List<ulong>();
        foreach (var (ino, nodes) in _opens)
            if (nodes.Remove(node) && nodes.Count == 0) released.Add(ino);
        foreach (var ino in released)
        {
            _opens.Remove(ino);
            FreeIfUnheld(ino);
        }
    }

    private void Open(NsOpen o)
    {
        var result = _state.GetAttr(o.Ino);
        if (result.IsOk) AddOpen(o.Ino, o.Node);
        Sender.Tell(Stamp(result));
    }

    private void AddOpen(ulong ino, string node)
    {
        if (!_opens.TryGetValue(ino, out var nodes)) _opens[ino] = nodes = new HashSet<string>();
        nodes.Add(node);
    }

    private void Close(ulong ino, string node)
    {
        if (_opens.TryGetValue(ino, out var nodes) && nodes.Remove(node) && nodes.Count == 0)
        {
            _opens.Remove(ino);
            FreeIfUnheld(ino);
        }
        Sender.Tell(NsResult.Ok);
    }

    /// <summary>Frees an inode with no name left once no node holds it open (persisted as <see cref="NsFree"/>),
    /// then purges its chunks. Right after a recovery, waits for the grace: a node may not have re-announced yet.</summary>
    private void FreeIfUnheld(ulong ino)
    {
        if (!_graceOver || _opens.ContainsKey(ino)) return;
        var chunks = _state.ChunksOf(ino);
        var free = new NsFree(Volume, Now(), ino);
        _changes.Clear();
        if (!_state.Apply(free, _changes).IsOk) return;
        // Nodes may still cache the freed inode's last attributes (nlink 0): they drop them.
        var gone = new Invalidate([ino], [], [], ++_version, _incarnation, CacheOnly: true);
        PersistApplied(free, () =>
        {
            Broadcast(gone, null);
            foreach (var i in chunks) _chunks.Tell(new ChunkPurge(Volume, ino, i));
        });
    }

    private void FreeUnheldOrphans()
    {
        foreach (var ino in _state.Orphans.ToList()) FreeIfUnheld(ino);
    }

    // ---------------------------------------------------------------- locks

    private void Lock(NsLock l, IActorRef replyTo)
    {
        if (!_state.TryGetAttr(l.Lock.Ino, out _))
        {
            replyTo.Tell(new LockResult((int)Errno.ENOENT, null, l.WaitId));
            return;
        }
        foreach (var (waiter, granted) in _locks.Request(l, replyTo)) waiter.Tell(granted);
    }
}
