using System.Text;
using FuseActors.Filesystems.Cluster.Messages;

namespace FuseActors.Filesystems.Cluster.Node;

/// <summary>
/// What one node knows of the namespace's attributes and names, so LOOKUP and GETATTR are answered without a round
/// trip to the namespace entity (a create is LOOKUP, the parent's GETATTR for default_permissions, then CREATE: two
/// of its three trips are answered here, and a cold stat is answered here entirely).
///
/// <para><b>Why it is never staler than the kernel's own cache.</b> The namespace tells every node what each change
/// touched (<see cref="Invalidate"/>), and the node that made a change learns it from the change's answer; both drop
/// what they touch here, at the moment the kernel is told. What remains is ordering: an answer read from the
/// namespace before a change can arrive after that change's invalidation. So every answer and invalidation carries
/// the namespace's version, and an answer older than the newest invalidation seen (<c>_floor</c>) is not cached.
/// Invalidations to a node are numbered; one that never came (a gap, or <see cref="Subscribed"/> naming a later
/// one) empties the cache. Another run of the namespace entity (it moved or restarted) empties it too, and nothing
/// is cached until this node is subscribed to that run: only then are its changes sure to be told here. The node
/// that made a change is also sent its invalidation (cache-only): a change whose answer never came (an interrupt,
/// a timeout) still reaches the cache. And the cache is a lease: it answers only while the namespace has confirmed
/// the subscription within <c>lease</c> (a partitioned node stops answering from it, as its kernel's 1 s caches do).</para>
///
/// <para>Not thread-safe: the node's filesystem actor owns it.</para>
/// </summary>
public sealed class NodeMetadataCache(int capacity, TimeSpan lease, Func<long>? clockMs = null)
{
    private readonly Func<long> _clockMs = clockMs ?? (() => Environment.TickCount64);
    private readonly long _leaseMs = (long)lease.TotalMilliseconds;
    private readonly Dictionary<ulong, NodeAttr> _attrs = new();
    // (directory, name) -> inode; 0 = the directory has no such name.
    private readonly Dictionary<(ulong Parent, string Name), ulong> _entries = new();
    // Directories every name of which is in _entries (a name not there is known to be absent).
    private readonly HashSet<ulong> _complete = new();

    private long _incarnation;
    private bool _live;      // subscribed to _incarnation: its changes are told here
    private long _seq;       // the last Invalidate.Seq seen from it
    private long _floor;     // the newest version whose change this cache has been told of
    private long _confirmedAt;   // when the namespace last confirmed the subscription (clock ms)
    // Versions of this node's own changes whose answers were applied here: their cache-only invalidation, when it
    // comes, has nothing left to do (dropping what the answer just set would only cost round trips).
    private readonly HashSet<long> _ownApplied = new();

    public int Count => _attrs.Count + _entries.Count;

    /// <summary>Lost its whole content this many times (a gap, a new incarnation, an unknown change).</summary>
    public long Clears { get; private set; }

    // Names are bytes; Latin-1 maps each byte to one char, so this key is exact for any name.
    private static (ulong, string) Key(ulong parent, ReadOnlySpan<byte> name) => (parent, Encoding.Latin1.GetString(name));

    public bool TryGetAttr(ulong ino, out NodeAttr attr)
    {
        attr = null!;
        return Leased() && _attrs.TryGetValue(ino, out attr!);
    }

    public enum Lookup { Unknown, Absent, Found }

    /// <summary>What the cache knows of <paramref name="name"/> in <paramref name="parent"/>: the inode's
    /// attributes (Found), that there is no such name (Absent), or nothing (Unknown).</summary>
    public Lookup TryLookup(ulong parent, ReadOnlySpan<byte> name, out NodeAttr? attr)
    {
        attr = null;
        if (!Leased()) return Lookup.Unknown;
        // A name too long is refused by the namespace (ENAMETOOLONG), not absent.
        if (name.Length > Namespace.NamespaceState.MaxNameBytes) return Lookup.Unknown;
        if (_entries.TryGetValue(Key(parent, name), out var ino))
        {
            if (ino == 0) return Lookup.Absent;
            return _attrs.TryGetValue(ino, out attr) ? Lookup.Found : Lookup.Unknown;
        }
        return _complete.Contains(parent) ? Lookup.Absent : Lookup.Unknown;
    }

    // ------------------------------------------------------------ the namespace's stream of changes

    /// <summary>The namespace's answer to this node's subscription.</summary>
    public void Subscribed(Subscribed s)
    {
        if (s.Incarnation == 0) return;
        if (s.Incarnation != _incarnation) NewIncarnation(s.Incarnation);
        if (_live && s.Seq != _seq) Clear();   // an invalidation sent here never came
        _live = true;
        _seq = s.Seq;
        _floor = Math.Max(_floor, s.Version);
        _confirmedAt = _clockMs();
    }

    /// <summary>Something changed: drop what it touched (unless it is this node's own change, already applied from
    /// its answer).</summary>
    public void Invalidated(Invalidate inv)
    {
        bool alreadyApplied = inv.CacheOnly && inv.Incarnation == _incarnation && _ownApplied.Contains(inv.Version);
        // Invalidations come in version order: an own change older than this one is applied or lost by now.
        if (_ownApplied.Count > 0) _ownApplied.RemoveWhere(v => v <= inv.Version);
        if (!alreadyApplied)
        {
            foreach (var ino in inv.Inodes) _attrs.Remove(ino);
            foreach (var e in inv.Entries) DropEntry(e.Parent, e.Name);
            foreach (var d in inv.Deletes)
            {
                DropEntry(d.Parent, d.Name);
                _attrs.Remove(d.Child);
            }
        }
        if (inv.Incarnation == 0) return;
        if (inv.Incarnation != _incarnation) { NewIncarnation(inv.Incarnation); return; }
        if (_live && inv.Seq != _seq + 1) Clear();
        _seq = inv.Seq;
        _floor = Math.Max(_floor, inv.Version);
    }

    // ------------------------------------------------------------ answers to this node's requests

    /// <summary>A LOOKUP's answer: the name and the inode's attributes, or that there is no such name.</summary>
    public void LookedUp(ulong parent, ReadOnlySpan<byte> name, NsResult r)
    {
        bool absent = r.Errno == (int)Engine.Protocol.Errno.ENOENT;
        if ((!r.IsOk && !absent) || !Current(r)) return;
        Room();
        _entries[Key(parent, name)] = absent ? 0 : r.Attr!.Ino;
        if (r.Attr is { } a) _attrs[a.Ino] = a;
    }

    /// <summary>An answer carrying one inode's attributes (GETATTR, OPEN).</summary>
    public void Answered(NsResult r)
    {
        if (!r.IsOk || r.Attr is null || !Current(r)) return;
        Room();
        _attrs[r.Attr.Ino] = r.Attr;
    }

    /// <summary>A directory's whole listing: every name in it, and that no other name is.</summary>
    public void Listed(ulong dir, NsResult r)
    {
        if (!r.IsOk || r.Entries is null || !Current(r)) return;
        Room();
        foreach (var e in r.Entries) _entries[Key(dir, e.Name)] = e.Ino;
        _complete.Add(dir);
    }

    /// <summary>The answer to a change this node made (it is sent no <see cref="Invalidate"/> for it).</summary>
    public void Changed(NsResult r)
    {
        if (!r.IsOk) return;   // a refused change changed nothing
        if (r.Version == 0) { Clear(); return; }   // what it changed is not told
        bool current = Current(r);
        if (r.Incarnation == _incarnation) _floor = Math.Max(_floor, r.Version);
        if (current) Room();
        if (r.Changed is { } attrs)
            foreach (var a in attrs)
                if (current) _attrs[a.Ino] = a; else _attrs.Remove(a.Ino);
        if (r.ChangedEntries is { } entries)
            foreach (var e in entries)
                if (current) _entries[Key(e.Parent, e.Name)] = e.Ino; else DropEntry(e.Parent, e.Name);
        if (r.Attr is { } attr)
        {
            if (current) _attrs[attr.Ino] = attr; else _attrs.Remove(attr.Ino);
        }
        if (current) _ownApplied.Add(r.Version);
    }

    /// <summary>The answer to this node's mkdir: the new directory is empty, so every name not cached is absent.</summary>
    public void MadeDirectory(NsResult r)
    {
        if (r.IsOk && r.Attr is { } a && Current(r)) _complete.Add(a.Ino);
    }

    /// <summary>A change this node asked for may or may not have been made (no answer came): forget everything.</summary>
    public void Clear()
    {
        _attrs.Clear();
        _entries.Clear();
        _complete.Clear();
        Clears++;
    }

    // Can this answer be cached: read from the namespace run this node is subscribed to, after every change this
    // node has been told of?
    // An answer from a later run of the namespace than this node subscribed to empties the cache at once: that run's
    // changes are not told here until the next subscription.
    private bool Current(NsResult r)
    {
        if (r.Incarnation != 0 && r.Incarnation != _incarnation) NewIncarnation(r.Incarnation);
        return Leased() && r.Incarnation == _incarnation && r.Version >= _floor;
    }

    // Another run: any other number (not only a larger one: clocks differ between machines). A late message from
    // the old run switches back and empties the cache again; the next subscription puts it right.
    private void NewIncarnation(long incarnation)
    {
        Clear();
        _incarnation = incarnation;
        _live = false;
        _seq = 0;
        _floor = 0;
        _ownApplied.Clear();
    }

    // Subscribed to the current run, and confirmed within the lease; an expired lease empties the cache.
    private bool Leased()
    {
        if (!_live) return false;
        if (_clockMs() - _confirmedAt <= _leaseMs) return true;
        Clear();
        _live = false;
        return false;
    }

    private void DropEntry(ulong parent, byte[] name)
    {
        _entries.Remove(Key(parent, name));
        _complete.Remove(parent);
    }

    // Bounded: when full, start again (cheaper than tracking use, and a miss only costs a round trip).
    private void Room()
    {
        if (Count >= capacity) Clear();
    }
}
