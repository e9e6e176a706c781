using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

// Node bookkeeping (nlookup per node, references held by requests in flight, deferred FORGETs) and the
// kernel's processing of successful replies (entry replies hand out nodes; attribute and dentry caches).
public sealed partial class VirtualDevice
{
    private readonly Dictionary<ulong, VirtualNode> _nodes = [];
    private readonly Dictionary<(ulong Parent, FileName Name), Dentry> _dentries = [];

    /// <summary>The node's lookup count: replies that handed the node out (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK,
    /// CREATE, READDIRPLUS entries) minus lookups given back with <see cref="Forget"/>.</summary>
    public ulong GetLookupCount(ulong nodeId)
    {
        lock (_lock) return _nodes.TryGetValue(nodeId, out var n) ? n.NLookup : 0;
    }

    /// <summary>References the node has from requests in flight (waiting, queued, with the daemon, or backgrounded
    /// until their late reply) — the seed's igrab counts.</summary>
    public int GetNodeReferences(ulong nodeId)
    {
        lock (_lock) return _nodes.TryGetValue(nodeId, out var n) ? n.Refs : 0;
    }

    /// <summary>Lookups forgotten while requests still referenced the node; sent as a FORGET once they end.</summary>
    public ulong GetDeferredForgets(ulong nodeId)
    {
        lock (_lock) return _nodes.TryGetValue(nodeId, out var n) ? n.DeferredForget : 0;
    }

    /// <summary>Every node the kernel side currently knows (root included) with its lookup count.</summary>
    public IReadOnlyDictionary<ulong, ulong> LookupCounts()
    {
        lock (_lock) return _nodes.ToDictionary(kv => kv.Key, kv => kv.Value.NLookup);
    }

    private VirtualNode GetOrCreateNodeLocked(ulong id)
    {
        if (!_nodes.TryGetValue(id, out var n))
        {
            n = new VirtualNode(id);
            _nodes[id] = n;
        }
        return n;
    }

    private void AcquireRefsLocked(Req r)
    {
        foreach (var id in r.Spec.NodeRefs)
            if (id != 0) GetOrCreateNodeLocked(id).Refs++;
        r.RefsHeld = true;
    }

    private void ReleaseRefsLocked(Req r)
    {
        if (!r.RefsHeld) return;
        r.RefsHeld = false;
        foreach (var id in r.Spec.NodeRefs)
        {
            if (id == 0 || !_nodes.TryGetValue(id, out var n)) continue;
            n.Refs--;
            if (n.Refs == 0 && n.DeferredForget > 0)
            {
                if (_connected) EnqueueForgetLocked(id, n.DeferredForget);
                n.DeferredForget = 0;
            }
            MaybeEvictLocked(n);
        }
    }

    private void ForgetLocked(VirtualNode n, ulong count)
    {
        n.NLookup -= Math.Min(count, n.NLookup);
        if (!_connected) return;
        if (n.Refs > 0) n.DeferredForget += count;
        else EnqueueForgetLocked(n.Id, count);
        MaybeEvictLocked(n);
    }

    private void MaybeEvictLocked(VirtualNode n)
    {
        if (n.Id == FuseConstants.RootId || n.NLookup != 0 || n.Refs != 0 || n.DeferredForget != 0) return;
        _nodes.Remove(n.Id);
        if (_dentries.Count == 0) return;
        List<(ulong, FileName)>? drop = null;
        foreach (var (key, d) in _dentries)
            if (d.Child == n.Id || key.Parent == n.Id) (drop ??= []).Add(key);
        if (drop != null) foreach (var k in drop) _dentries.Remove(k);
    }

    // ------------------------------------------------------------------ cache helpers

    private DateTimeOffset Expiry(ulong seconds, uint nsec)
    {
        if (seconds == 0 && nsec == 0) return DateTimeOffset.MinValue;
        var now = _time.GetUtcNow();
        if (seconds > 100UL * 365 * 24 * 3600) return DateTimeOffset.MaxValue;
        return now + TimeSpan.FromSeconds(seconds) + TimeSpan.FromTicks(Math.Min(nsec, 999_999_999u) / 100);
    }

    private void CacheAttrLocked(ulong nodeId, in FuseAttr attr, ulong valid, uint validNsec)
    {
        if (!_nodes.TryGetValue(nodeId, out var n)) return;
        n.HasAttr = true;
        n.Attr = attr;
        n.AttrExpires = Expiry(valid, validNsec);
        if (n.SizeKnown && (long)attr.Size < n.Size) DropPagesFromLocked(n, (long)attr.Size);
        n.Size = (long)attr.Size;
        n.SizeKnown = true;
    }

    private void InvalidateAttrLocked(ulong nodeId)
    {
        if (_nodes.TryGetValue(nodeId, out var n)) n.AttrExpires = DateTimeOffset.MinValue;
    }

    private static void DropPagesFromLocked(VirtualNode n, long size)
    {
        if (n.Pages == null) return;
        long first = (size + FuseConstants.PageSize - 1) / FuseConstants.PageSize;
        foreach (var k in n.Pages.Keys.Where(k => k >= first).ToList()) n.Pages.Remove(k);
    }

    private static void DropPageRangeLocked(VirtualNode n, long firstPage, long lastPage)
    {
        if (n.Pages == null) return;
        foreach (var k in n.Pages.Keys.Where(k => k >= firstPage && k <= lastPage).ToList()) n.Pages.Remove(k);
    }

    private void SetDentryLocked(ulong parent, FileName name, ulong child, DateTimeOffset expires)
    {
        if (name.Length == 0) return;
        _dentries[(parent, name)] = new Dentry(child, expires);
    }

    private void DropDentryLocked(ulong parent, FileName name) => _dentries.Remove((parent, name));

    // ------------------------------------------------------------------ reply processing

    /// <summary>The name a name operation's body carries (for the dentry cache).</summary>
    private static FileName EntryName(Opcode op, ReadOnlySpan<byte> body)
    {
        int skip = op switch
        {
            Opcode.MkDir or Opcode.Link or Opcode.Rename => 8,
            Opcode.MkNod or Opcode.Create or Opcode.TmpFile or Opcode.Rename2 => 16,
            _ => 0,
        };
        return body.Length > skip ? FileName.FromBytes(Wire.ReadCBytes(body[skip..], out _)) : default;
    }

    private VirtualReply ProcessErrorLocked(Req r, VirtualReply reply)
    {
        // An ENOENT answer to LOOKUP is not cached: any dentry for the name goes.
        if (r.Spec.Opcode == Opcode.Lookup && reply.Error == Errno.ENOENT && !r.Interrupted)
            DropDentryLocked(r.Spec.NodeId, EntryName(Opcode.Lookup, r.Spec.Body.Span));
        return reply;
    }

    private VirtualReply ProcessReplyLocked(Req r, VirtualReply reply)
    {
        var op = r.Spec.Opcode;
        var body = r.Spec.Body.Span;
        switch (op)
        {
            case Opcode.Lookup:
            case Opcode.MkNod:
            case Opcode.MkDir:
            case Opcode.Symlink:
            case Opcode.Link:
            case Opcode.Create:
            case Opcode.TmpFile:
                return EntryReplyLocked(r, reply);

            case Opcode.ReadDirPlus:
                return DirPlusReplyLocked(r, reply);

            case Opcode.Open:
            case Opcode.OpenDir:
                if (r.Interrupted)
                {
                    // Nobody will use this open file: release it (the caller left on a signal).
                    var o = reply.Read<FuseOpenOut>();
                    uint flags = body.Length >= 8 ? Wire.Read<FuseOpenIn>(body).Flags : 0;
                    ReleaseOrphanLocked(r, op == Opcode.OpenDir, r.Spec.NodeId, o.Fh, flags, forgetAfter: 0);
                }
                return reply;

            case Opcode.GetAttr:
            case Opcode.SetAttr:
            {
                var ao = reply.Read<FuseAttrOut>();
                if (!Posix.IsValidFileType(ao.Attr.Mode))
                    return new VirtualReply(reply.Unique, op, Errno.EIO);
                CacheAttrLocked(r.Spec.NodeId, ao.Attr, ao.AttrValid, ao.AttrValidNsec);
                return reply;
            }

            case Opcode.Unlink:
            case Opcode.RmDir:
            {
                var name = EntryName(op, body);
                if (_dentries.TryGetValue((r.Spec.NodeId, name), out var d) && d.Child != 0) InvalidateAttrLocked(d.Child);
                DropDentryLocked(r.Spec.NodeId, name);
                InvalidateAttrLocked(r.Spec.NodeId);
                return reply;
            }

            case Opcode.Rename:
            case Opcode.Rename2:
            {
                ulong newDir = op == Opcode.Rename
                    ? Wire.Read<FuseRenameIn>(body).NewDir
                    : Wire.Read<FuseRename2In>(body).NewDir;
                int skip = op == Opcode.Rename ? 8 : 16;
                var oldName = FileName.FromBytes(Wire.ReadCBytes(body[skip..], out int used));
                var newName = FileName.FromBytes(Wire.ReadCBytes(body[(skip + used)..], out _));
                DropDentryLocked(r.Spec.NodeId, oldName);
                DropDentryLocked(newDir, newName);
                InvalidateAttrLocked(r.Spec.NodeId);
                InvalidateAttrLocked(newDir);
                return reply;
            }

            case Opcode.Write:
            {
                var wi = Wire.Read<FuseWriteIn>(body);
                if (_nodes.TryGetValue(r.Spec.NodeId, out var n))
                {
                    n.AttrExpires = DateTimeOffset.MinValue;
                    if (wi.Size > 0)
                        DropPageRangeLocked(n, (long)(wi.Offset / FuseConstants.PageSize),
                            (long)((wi.Offset + wi.Size - 1) / FuseConstants.PageSize));
                }
                return reply;
            }

            default:
                return reply;
        }
    }

    private VirtualReply EntryReplyLocked(Req r, VirtualReply reply)
    {
        var op = r.Spec.Opcode;
        var e = reply.Read<FuseEntryOut>();
        ulong parent = r.Spec.NodeId;
        var name = EntryName(op, r.Spec.Body.Span);

        if (e.NodeId == 0)
        {
            if (op != Opcode.Lookup) return new VirtualReply(reply.Unique, op, Errno.EIO);
            // A negative entry: cached for entry_valid if that is non-zero; the caller sees ENOENT.
            if (!r.Interrupted)
            {
                if (e.EntryValid != 0 || e.EntryValidNsec != 0)
                    SetDentryLocked(parent, name, 0, Expiry(e.EntryValid, e.EntryValidNsec));
                else DropDentryLocked(parent, name);
            }
            return reply;
        }

        var node = GetOrCreateNodeLocked(e.NodeId);
        node.NLookup++;
        node.Generation = e.Generation;

        bool isCreate = op is Opcode.Create or Opcode.TmpFile;
        bool bad = e.NodeId == FuseConstants.RootId
                   || !Posix.IsValidFileType(e.Attr.Mode)
                   || (isCreate && !Posix.IsReg(e.Attr.Mode));
        if (bad || r.Interrupted)
        {
            // The kernel cannot (bad reply) or will not (caller gone) use this node: give the lookup back, and
            // for CREATE release the open file first; the FORGET follows the RELEASE (seed request_end).
            if (isCreate)
            {
                var open = reply.Read<FuseOpenOut>(Wire.SizeOf<FuseEntryOut>());
                uint flags = Wire.Read<FuseCreateIn>(r.Spec.Body.Span).Flags;
                ReleaseOrphanLocked(r, false, e.NodeId, open.Fh, flags, forgetAfter: e.NodeId);
            }
            else
            {
                ForgetLocked(node, 1);
            }
            return bad ? new VirtualReply(reply.Unique, op, Errno.EIO) : reply;
        }

        CacheAttrLocked(e.NodeId, e.Attr, e.AttrValid, e.AttrValidNsec);
        SetDentryLocked(parent, name, e.NodeId, Expiry(e.EntryValid, e.EntryValidNsec));
        if (op != Opcode.Lookup) InvalidateAttrLocked(parent);
        return reply;
    }

    private VirtualReply DirPlusReplyLocked(Req r, VirtualReply reply)
    {
        var entries = new List<DirentPlus>();
        bool ok = Dirents.TryParsePlus(reply.Payload.Span, entries);
        var counted = new List<VirtualNode>();
        foreach (var (e, d) in entries)
        {
            if (e.NodeId == 0 || d.Name.IsDotOrDotDot) continue;
            var node = GetOrCreateNodeLocked(e.NodeId);
            node.NLookup++;
            node.Generation = e.Generation;
            if (!VfsDirEntryPlus.HoldsLookupFor(e, d.Name))
            {
                ForgetLocked(node, 1); // the kernel could not link it: forgotten at once
                continue;
            }
            CacheAttrLocked(e.NodeId, e.Attr, e.AttrValid, e.AttrValidNsec);
            SetDentryLocked(r.Spec.NodeId, d.Name, e.NodeId, Expiry(e.EntryValid, e.EntryValidNsec));
            counted.Add(node);
        }
        if (!ok || r.Interrupted)
        {
            // Nobody gets these entries (malformed reply → EIO, or the caller left): give their lookups back.
            foreach (var n in counted) ForgetLocked(n, 1);
        }
        return ok ? reply : new VirtualReply(reply.Unique, Opcode.ReadDirPlus, Errno.EIO);
    }

    private void ReleaseOrphanLocked(Req r, bool dir, ulong nodeId, ulong fh, uint openFlags, ulong forgetAfter)
    {
        var rin = new FuseReleaseIn
        {
            Fh = fh,
            Flags = openFlags & ~(uint)(Posix.O_CREAT | Posix.O_EXCL | Posix.O_TRUNC),
        };
        var spec = new VirtualRequest(dir ? Opcode.ReleaseDir : Opcode.Release, nodeId, Wire.Bytes(rin));
        var rel = new Req(this, spec, r.Caller, SendMode.Background) { ForgetAfter = forgetAfter };
        SendBackgroundLocked(rel);
    }

    // ------------------------------------------------------------------ types

    internal sealed class VirtualNode(ulong id)
    {
        public readonly ulong Id = id;
        public ulong NLookup;
        public int Refs;
        public ulong DeferredForget;
        public ulong Generation;
        public bool HasAttr;
        public FuseAttr Attr;
        public DateTimeOffset AttrExpires = DateTimeOffset.MinValue;
        public bool SizeKnown;
        public long Size;
        public bool Deleted;
        public Dictionary<long, byte[]>? Pages;
    }

    internal sealed class Dentry(ulong child, DateTimeOffset expires)
    {
        public readonly ulong Child = child;
        public DateTimeOffset Expires = expires;
    }

    internal DateTimeOffset Now => _time.GetUtcNow();
    internal object SyncRoot => _lock;
    internal Dictionary<ulong, VirtualNode> NodesLocked => _nodes;
    internal Dictionary<(ulong Parent, FileName Name), Dentry> DentriesLocked => _dentries;
}
