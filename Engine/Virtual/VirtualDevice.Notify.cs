using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

// Notifications: messages the daemon writes with unique 0 and the notify code in the error field
// (fuse-protocol.md §6). Sizes are validated exactly; an unknown node gives ENOENT; the effect is applied to
// the in-process cache model.
public sealed partial class VirtualDevice
{
    private const uint ExpireOnly = 1;

    /// <summary>Returns 0 or a negated errno.</summary>
    private int NotifyLocked(int code, ReadOnlySpan<byte> p)
    {
        switch ((NotifyCode)code)
        {
            case NotifyCode.Poll:
                return p.Length == Wire.SizeOf<FuseNotifyPollWakeupOut>() ? 0 : -(int)Errno.EINVAL;

            case NotifyCode.InvalInode:
            {
                if (p.Length != Wire.SizeOf<FuseNotifyInvalInodeOut>()) return -(int)Errno.EINVAL;
                var a = Wire.Read<FuseNotifyInvalInodeOut>(p);
                if (!_nodes.TryGetValue(a.Ino, out var n)) return -(int)Errno.ENOENT;
                n.AttrExpires = DateTimeOffset.MinValue;
                if (a.Off >= 0)
                {
                    long first = a.Off / FuseConstants.PageSize;
                    long last = a.Len <= 0 ? long.MaxValue : (a.Off + a.Len - 1) / FuseConstants.PageSize;
                    DropPageRangeLocked(n, first, last);
                }
                return 0;
            }

            case NotifyCode.InvalEntry:
            {
                int fixedLen = Wire.SizeOf<FuseNotifyInvalEntryOut>();
                if (p.Length < fixedLen) return -(int)Errno.EINVAL;
                var a = Wire.Read<FuseNotifyInvalEntryOut>(p);
                if (a.NameLen > FuseConstants.NameMax) return -(int)Errno.ENAMETOOLONG;
                if (p.Length != fixedLen + a.NameLen + 1) return -(int)Errno.EINVAL;
                if (p[fixedLen + (int)a.NameLen] != 0) return -(int)Errno.EINVAL;
                if ((a.Flags & ~ExpireOnly) != 0) return -(int)Errno.EINVAL;
                var name = FileName.FromBytes(p.Slice(fixedLen, (int)a.NameLen));
                return ReverseInvalEntryLocked(a.Parent, 0, name, (a.Flags & ExpireOnly) != 0);
            }

            case NotifyCode.Delete:
            {
                int fixedLen = Wire.SizeOf<FuseNotifyDeleteOut>();
                if (p.Length < fixedLen) return -(int)Errno.EINVAL;
                var a = Wire.Read<FuseNotifyDeleteOut>(p);
                if (a.NameLen > FuseConstants.NameMax) return -(int)Errno.ENAMETOOLONG;
                if (p.Length != fixedLen + a.NameLen + 1) return -(int)Errno.EINVAL;
                if (p[fixedLen + (int)a.NameLen] != 0) return -(int)Errno.EINVAL;
                var name = FileName.FromBytes(p.Slice(fixedLen, (int)a.NameLen));
                return ReverseInvalEntryLocked(a.Parent, a.Child, name, false);
            }

            case NotifyCode.Store:
            {
                int fixedLen = Wire.SizeOf<FuseNotifyStoreOut>();
                if (p.Length < fixedLen) return -(int)Errno.EINVAL;
                var a = Wire.Read<FuseNotifyStoreOut>(p);
                if (a.Size != p.Length - fixedLen) return -(int)Errno.EINVAL;
                if (!_nodes.TryGetValue(a.NodeId, out var n)) return -(int)Errno.ENOENT;
                StoreLocked(n, (long)a.Offset, p[fixedLen..]);
                return 0;
            }

            case NotifyCode.Retrieve:
            {
                if (p.Length != Wire.SizeOf<FuseNotifyRetrieveOut>()) return -(int)Errno.EINVAL;
                var a = Wire.Read<FuseNotifyRetrieveOut>(p);
                if (!_nodes.TryGetValue(a.NodeId, out var n)) return -(int)Errno.ENOENT;
                RetrieveLocked(n, a);
                return 0;
            }

            case NotifyCode.IncEpoch:
                if (p.Length != 0) return -(int)Errno.EINVAL;
                foreach (var d in _dentries.Values) d.Expires = DateTimeOffset.MinValue;
                return 0;

            default:
                // RESEND and PRUNE are not modelled; unknown codes are EINVAL as in the kernel.
                return -(int)Errno.EINVAL;
        }
    }

    /// <summary>The kernel's fuse_reverse_inval_entry (INVAL_ENTRY with child 0, DELETE with the child).</summary>
    private int ReverseInvalEntryLocked(ulong parent, ulong child, FileName name, bool expireOnly)
    {
        if (!_nodes.TryGetValue(parent, out var pn)) return -(int)Errno.ENOENT;
        if (pn.HasAttr && !Posix.IsDir(pn.Attr.Mode)) return -(int)Errno.ENOTDIR;
        if (!_dentries.TryGetValue((parent, name), out var d)) return -(int)Errno.ENOENT;

        pn.AttrExpires = DateTimeOffset.MinValue;     // the directory changed
        d.Expires = DateTimeOffset.MinValue;          // the entry is stale
        if (!expireOnly) _dentries.Remove((parent, name));

        if (child != 0 && d.Child != 0)
        {
            if (d.Child != child) return -(int)Errno.ENOENT;
            _dentries.Remove((parent, name));
            if (_nodes.TryGetValue(child, out var cn))
            {
                cn.Deleted = true;
                cn.AttrExpires = DateTimeOffset.MinValue;
                if (cn.HasAttr) cn.Attr.Nlink = 0;
            }
        }
        return 0;
    }

    /// <summary>NOTIFY_STORE: data into the page cache. A page becomes valid when it is written whole, or from its
    /// start up to the end of the file; a partial write to a page that is not cached leaves it uncached.</summary>
    private static void StoreLocked(VirtualNode n, long offset, ReadOnlySpan<byte> data)
    {
        const int page = FuseConstants.PageSize;
        long end = offset + data.Length;
        long fileSize = n.SizeKnown ? n.Size : 0;
        if (end > fileSize)
        {
            fileSize = end;
            n.Size = end;
            n.SizeKnown = true;
            if (n.HasAttr) n.Attr.Size = (ulong)end;
        }
        long pos = offset;
        int i = 0;
        while (i < data.Length)
        {
            long index = pos / page;
            int off = (int)(pos % page);
            int thisNum = Math.Min(page - off, data.Length - i);
            n.Pages ??= [];
            if (n.Pages.TryGetValue(index, out var existing))
            {
                data.Slice(i, thisNum).CopyTo(existing.AsSpan(off));
            }
            else if (off == 0 && (thisNum == page || pos + thisNum == fileSize))
            {
                var fresh = new byte[page];
                data.Slice(i, thisNum).CopyTo(fresh);
                n.Pages[index] = fresh;
            }
            pos += thisNum;
            i += thisNum;
        }
    }

    /// <summary>NOTIFY_RETRIEVE: queue a NOTIFY_REPLY (opcode 41, unique = notify_unique) carrying the cached bytes
    /// from the offset up to the first page that is not cached, capped by the file size, max_write and max_pages.</summary>
    private void RetrieveLocked(VirtualNode n, in FuseNotifyRetrieveOut a)
    {
        const int page = FuseConstants.PageSize;
        int offInPage = (int)(a.Offset % page);
        long fileSize = n.SizeKnown ? n.Size : 0;
        long num = Math.Min(a.Size, _maxWrite);
        if ((long)a.Offset > fileSize) num = 0;
        else if ((long)a.Offset + num > fileSize) num = fileSize - (long)a.Offset;
        long numPages = Math.Min((num + offInPage + page - 1) / page, _maxPages);

        var data = new List<byte>();
        long index = (long)(a.Offset / page);
        int taken = 0;
        while (num > 0 && taken < numPages)
        {
            if (n.Pages == null || !n.Pages.TryGetValue(index, out var pg)) break;
            int thisNum = (int)Math.Min(num, page - offInPage);
            data.AddRange(pg.AsSpan(offInPage, thisNum).ToArray());
            offInPage = 0;
            num -= thisNum;
            index++;
            taken++;
        }

        var inArg = new FuseNotifyRetrieveIn { Offset = a.Offset, Size = (uint)data.Count };
        var body = Wire.Build().Struct(inArg).Raw(data.ToArray()).ToArray();
        var spec = new VirtualRequest(Opcode.NotifyReply, a.NodeId, body, nodeRefs: []); // never answered: the table says no reply
        var r = new Req(this, spec, FuseCaller.Kernel, SendMode.NoReply);
        TakeCreditOrDebtLocked(r);
        QueueLocked(r, unique: a.NotifyUnique);
    }
}
