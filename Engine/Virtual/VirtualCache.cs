using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// A read-mostly view of the kernel-side caches a <see cref="VirtualDevice"/> keeps from replies and notifications:
/// dentries (name → node, with entry_valid; node 0 is a negative entry), attributes (attr_valid), and page-cache
/// bytes written by NOTIFY_STORE. Expiry follows <see cref="VirtualDeviceOptions.TimeProvider"/>.
/// </summary>
public sealed class VirtualCache
{
    private readonly VirtualDevice _d;

    internal VirtualCache(VirtualDevice device) => _d = device;

    /// <summary>A valid (unexpired) dentry for <paramref name="parent"/>/<paramref name="name"/>;
    /// <paramref name="nodeId"/> 0 means a cached negative entry.</summary>
    public bool TryGetEntry(ulong parent, FileName name, out ulong nodeId)
    {
        lock (_d.SyncRoot)
        {
            if (_d.DentriesLocked.TryGetValue((parent, name), out var e) && e.Expires > _d.Now)
            {
                nodeId = e.Child;
                return true;
            }
            nodeId = 0;
            return false;
        }
    }

    /// <summary>Whether any dentry (valid or stale) exists for the name.</summary>
    public bool HasEntry(ulong parent, FileName name)
    {
        lock (_d.SyncRoot) return _d.DentriesLocked.ContainsKey((parent, name));
    }

    /// <summary>Valid (unexpired) cached attributes.</summary>
    public bool TryGetAttr(ulong nodeId, out FuseAttr attr)
    {
        lock (_d.SyncRoot)
        {
            if (_d.NodesLocked.TryGetValue(nodeId, out var n) && n.HasAttr && n.AttrExpires > _d.Now)
            {
                attr = n.Attr;
                return true;
            }
            attr = default;
            return false;
        }
    }

    /// <summary>The file size the kernel side believes (from attributes and STORE), if known.</summary>
    public long? GetSize(ulong nodeId)
    {
        lock (_d.SyncRoot) return _d.NodesLocked.TryGetValue(nodeId, out var n) && n.SizeKnown ? n.Size : null;
    }

    /// <summary>True after a DELETE notification removed the node's entry.</summary>
    public bool IsDeleted(ulong nodeId)
    {
        lock (_d.SyncRoot) return _d.NodesLocked.TryGetValue(nodeId, out var n) && n.Deleted;
    }

    /// <summary>Indices of the node's valid cached pages, ascending.</summary>
    public IReadOnlyList<long> CachedPages(ulong nodeId)
    {
        lock (_d.SyncRoot)
            return _d.NodesLocked.TryGetValue(nodeId, out var n) && n.Pages != null
                ? n.Pages.Keys.Order().ToArray()
                : [];
    }

    /// <summary>A copy of one valid cached page (4096 bytes), or null.</summary>
    public byte[]? ReadPage(ulong nodeId, long pageIndex)
    {
        lock (_d.SyncRoot)
            return _d.NodesLocked.TryGetValue(nodeId, out var n) && n.Pages != null && n.Pages.TryGetValue(pageIndex, out var p)
                ? (byte[])p.Clone()
                : null;
    }

    /// <summary>Drops every cached dentry, attribute and page (echo 3 &gt; drop_caches). Lookup counts are kept.</summary>
    public void Clear()
    {
        lock (_d.SyncRoot)
        {
            _d.DentriesLocked.Clear();
            foreach (var n in _d.NodesLocked.Values)
            {
                n.AttrExpires = DateTimeOffset.MinValue;
                n.Pages = null;
            }
        }
    }
}
