using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>
/// A tiny in-memory filesystem daemon speaking raw FUSE on a <see cref="VirtualDevice"/> from its own reader thread
/// (as the actor engine will). It keeps its own lookup counts from the replies it sends and the forgets it reads,
/// so tests can check the two sides agree.
/// </summary>
internal sealed class MiniFs : IDisposable
{
    private sealed class Node(ulong id, uint mode)
    {
        public readonly ulong Id = id;
        public uint Mode = mode;
        public byte[] Data = [];
        public readonly SortedDictionary<string, ulong> Children = new(StringComparer.Ordinal);
        public string Target = "";
        public readonly Dictionary<string, byte[]> Xattrs = [];
        public ulong NLookup;
        public uint Nlink = 1;
        public ulong Parent = 1;
    }

    private readonly VirtualDevice _device;
    private readonly Dictionary<ulong, Node> _nodes = [];
    private readonly Task _loop;
    private ulong _nextId = 2;
    private ulong _nextFh = 1;
    private readonly HashSet<ulong> _openFhs = [];
    private readonly object _gate = new();

    public MiniFs(VirtualDevice device, uint maxWrite = 65536)
    {
        _device = device;
        _nodes[1] = new Node(1, Posix.S_IFDIR | 0x1ED) { Nlink = 2 };
        MaxWrite = maxWrite;
        _loop = Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);
    }

    public uint MaxWrite { get; }
    public bool CopyFileRange64 { get; set; }
    public bool AccessSupported { get; set; }
    public List<Opcode> Seen { get; } = [];

    /// <summary>The daemon's lookup counts (nodes with a non-zero count).</summary>
    public Dictionary<ulong, ulong> LookupCounts
    {
        get { lock (_gate) return _nodes.Values.Where(n => n.NLookup > 0).ToDictionary(n => n.Id, n => n.NLookup); }
    }

    public int OpenHandles { get { lock (_gate) return _openFhs.Count; } }

    public int Count(Opcode op) { lock (_gate) return Seen.Count(o => o == op); }

    /// <summary>Waits until every queued forget was read and handled.</summary>
    public async Task SyncAsync(VfsClient client)
    {
        var deadline = DateTime.UtcNow + FakeDaemon.Timeout;
        while (_device.Stats() is { ForgetsQueued: > 0 } or { Pending: > 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "the daemon did not drain its queue");
            await Task.Delay(1);
        }
        await client.StatFsAsync().Within(); // a round trip after the last forget was read: it has been handled
    }

    public void Dispose()
    {
        _device.Dispose();
        _loop.Wait(FakeDaemon.Timeout);
    }

    private void Loop()
    {
        var buffer = new byte[MaxWrite + 4096 + 65536];
        while (true)
        {
            int n = _device.Read(buffer);
            if (n == -(int)Errno.ENODEV || n == -(int)Errno.ECONNABORTED) return;
            if (n < 0) continue;
            var req = FakeDaemon.Parse(buffer.AsSpan(0, n));
            lock (_gate)
            {
                Seen.Add(req.Opcode);
                Handle(req);
            }
        }
    }

    // ------------------------------------------------------------------ replies

    private void Ok(RawRequest r, ReadOnlySpan<byte> payload)
    {
        var h = new FuseOutHeader { Len = (uint)(16 + payload.Length), Unique = r.Unique };
        int w = _device.Write(Wire.Bytes(h), payload);
        if (w < 0 && w != -(int)Errno.ENOENT) throw new InvalidOperationException($"reply to {r} failed: {(Errno)(-w)}");
    }

    private void Ok<T>(RawRequest r, in T value) where T : unmanaged => Ok(r, Wire.Bytes(value));

    private void Err(RawRequest r, Errno e)
    {
        var h = new FuseOutHeader { Len = 16, Error = -(int)e, Unique = r.Unique };
        _device.Write(Wire.Bytes(h), default);
    }

    private FuseAttr AttrOf(Node n) => new()
    {
        Ino = n.Id,
        Mode = n.Mode,
        Nlink = n.Nlink,
        Size = Posix.IsDir(n.Mode) ? 4096 : Posix.IsReg(n.Mode) ? (ulong)n.Data.Length : (ulong)Encoding.UTF8.GetByteCount(n.Target),
        BlkSize = 4096,
        Uid = 1000,
        Gid = 1000,
    };

    private FuseEntryOut EntryOf(Node n)
    {
        n.NLookup++;
        return new FuseEntryOut { NodeId = n.Id, Generation = 1, EntryValid = 1, AttrValid = 1, Attr = AttrOf(n) };
    }

    private Node NewNode(uint mode, ulong parent)
    {
        var n = new Node(_nextId++, mode) { Parent = parent };
        _nodes[n.Id] = n;
        return n;
    }

    private void Forget(ulong id, ulong count)
    {
        if (!_nodes.TryGetValue(id, out var n)) throw new InvalidOperationException($"FORGET of unknown node {id}");
        if (n.NLookup < count) throw new InvalidOperationException($"FORGET {count} of node {id} holding {n.NLookup}");
        n.NLookup -= count;
    }

    // ------------------------------------------------------------------ dispatch

    private void Handle(RawRequest r)
    {
        _nodes.TryGetValue(r.NodeId, out var node);
        switch (r.Opcode)
        {
            case Opcode.Init:
                Ok(r, new FuseInitOut
                {
                    Major = 7, Minor = 45, MaxReadahead = 131072, MaxWrite = MaxWrite, MaxPages = (ushort)(MaxWrite / 4096),
                    Flags = (uint)(InitFlags.AsyncRead | InitFlags.AtomicOTrunc | InitFlags.BigWrites | InitFlags.MaxPages | InitFlags.SetXAttrExt),
                });
                return;
            case Opcode.Forget:
                Forget(r.NodeId, r.Arg<FuseForgetIn>().NLookup);
                return;
            case Opcode.BatchForget:
                for (int i = 0; i < r.Arg<FuseBatchForgetIn>().Count; i++)
                {
                    var one = r.Arg<FuseForgetOne>(8 + 16 * i);
                    Forget(one.NodeId, one.NLookup);
                }
                return;
            case Opcode.Interrupt:
                return; // requests here are answered at once
        }

        if (node is null) { Err(r, Errno.ENOENT); return; }

        switch (r.Opcode)
        {
            case Opcode.Lookup:
            {
                if (!node.Children.TryGetValue(r.Name(), out var id)) { Err(r, Errno.ENOENT); return; }
                Ok(r, EntryOf(_nodes[id]));
                return;
            }
            case Opcode.GetAttr:
                Ok(r, new FuseAttrOut { AttrValid = 1, Attr = AttrOf(node) });
                return;
            case Opcode.SetAttr:
            {
                var s = r.Arg<FuseSetAttrIn>();
                if ((s.Valid & FuseConstants.FattrMode) != 0) node.Mode = (node.Mode & Posix.S_IFMT) | (s.Mode & 0xFFF);
                if ((s.Valid & FuseConstants.FattrSize) != 0) { var d = node.Data; Array.Resize(ref d, (int)s.Size); node.Data = d; }
                Ok(r, new FuseAttrOut { AttrValid = 1, Attr = AttrOf(node) });
                return;
            }
            case Opcode.MkDir:
            case Opcode.MkNod:
            case Opcode.Symlink:
            case Opcode.Create:
            {
                string name = r.Opcode switch
                {
                    Opcode.MkDir => r.Name(8),
                    Opcode.Symlink => r.Name(),
                    _ => r.Name(16),
                };
                if (node.Children.ContainsKey(name)) { Err(r, Errno.EEXIST); return; }
                uint mode = r.Opcode switch
                {
                    Opcode.MkDir => Posix.S_IFDIR | (r.Arg<FuseMkDirIn>().Mode & 0xFFF),
                    Opcode.MkNod => r.Arg<FuseMkNodIn>().Mode,
                    Opcode.Symlink => Posix.S_IFLNK | 0x1FF,
                    _ => Posix.S_IFREG | (r.Arg<FuseCreateIn>().Mode & 0xFFF),
                };
                var n = NewNode(mode, node.Id);
                if (r.Opcode == Opcode.Symlink) n.Target = Wire.ReadCString(r.Body.AsSpan(Encoding.UTF8.GetByteCount(name) + 1));
                if (r.Opcode == Opcode.MkDir) { n.Nlink = 2; node.Nlink++; }
                node.Children[name] = n.Id;
                if (r.Opcode == Opcode.Create)
                {
                    ulong fh = _nextFh++;
                    _openFhs.Add(fh);
                    Ok(r, Wire.Build().Struct(EntryOf(n)).Struct(new FuseOpenOut { Fh = fh }).ToArray());
                }
                else Ok(r, EntryOf(n));
                return;
            }
            case Opcode.Link:
            {
                var target = _nodes[r.Arg<FuseLinkIn>().OldNodeId];
                string name = r.Name(8);
                if (node.Children.ContainsKey(name)) { Err(r, Errno.EEXIST); return; }
                node.Children[name] = target.Id;
                target.Nlink++;
                Ok(r, EntryOf(target));
                return;
            }
            case Opcode.Unlink:
            case Opcode.RmDir:
            {
                string name = r.Name();
                if (!node.Children.TryGetValue(name, out var id)) { Err(r, Errno.ENOENT); return; }
                var child = _nodes[id];
                if (r.Opcode == Opcode.RmDir && !Posix.IsDir(child.Mode)) { Err(r, Errno.ENOTDIR); return; }
                if (r.Opcode == Opcode.Unlink && Posix.IsDir(child.Mode)) { Err(r, Errno.EISDIR); return; }
                if (r.Opcode == Opcode.RmDir && child.Children.Count > 0) { Err(r, Errno.ENOTEMPTY); return; }
                node.Children.Remove(name);
                child.Nlink--;
                Ok(r, ReadOnlySpan<byte>.Empty);
                return;
            }
            case Opcode.Rename:
            case Opcode.Rename2:
            {
                int skip = r.Opcode == Opcode.Rename ? 8 : 16;
                ulong newDir = r.Arg<ulong>();
                uint flags = r.Opcode == Opcode.Rename2 ? r.Arg<FuseRename2In>().Flags : 0;
                string oldName = Wire.ReadCString(r.Body.AsSpan(skip), out int used);
                string newName = Wire.ReadCString(r.Body.AsSpan(skip + used));
                var nd = _nodes[newDir];
                if (!node.Children.TryGetValue(oldName, out var id)) { Err(r, Errno.ENOENT); return; }
                if ((flags & FuseConstants.RenameNoReplace) != 0 && nd.Children.ContainsKey(newName)) { Err(r, Errno.EEXIST); return; }
                node.Children.Remove(oldName);
                nd.Children[newName] = id;
                Ok(r, ReadOnlySpan<byte>.Empty);
                return;
            }
            case Opcode.ReadLink:
                Ok(r, Encoding.UTF8.GetBytes(node.Target));
                return;
            case Opcode.Open:
            case Opcode.OpenDir:
            {
                if (r.Opcode == Opcode.Open && (r.Arg<FuseOpenIn>().Flags & Posix.O_TRUNC) != 0) node.Data = [];
                ulong fh = _nextFh++;
                _openFhs.Add(fh);
                Ok(r, new FuseOpenOut { Fh = fh });
                return;
            }
            case Opcode.Release:
            case Opcode.ReleaseDir:
                _openFhs.Remove(r.Arg<FuseReleaseIn>().Fh);
                Ok(r, ReadOnlySpan<byte>.Empty);
                return;
            case Opcode.Read:
            {
                var ri = r.Arg<FuseReadIn>();
                int start = (int)Math.Min(ri.Offset, (ulong)node.Data.Length);
                int len = Math.Min((int)ri.Size, node.Data.Length - start);
                Ok(r, node.Data.AsSpan(start, len));
                return;
            }
            case Opcode.Write:
            {
                var wi = r.Arg<FuseWriteIn>();
                var data = r.Body.AsSpan(40, (int)wi.Size);
                int end = (int)wi.Offset + data.Length;
                if (end > node.Data.Length) { var d = node.Data; Array.Resize(ref d, end); node.Data = d; }
                data.CopyTo(node.Data.AsSpan((int)wi.Offset));
                Ok(r, new FuseWriteOut { Size = wi.Size });
                return;
            }
            case Opcode.ReadDir:
            case Opcode.ReadDirPlus:
            {
                var ri = r.Arg<FuseReadIn>();
                var all = new List<(string Name, Node N)> { (".", node), ("..", _nodes[node.Parent]) };
                all.AddRange(node.Children.Select(kv => (kv.Key, _nodes[kv.Value])));
                var b = Wire.Build();
                for (int i = (int)ri.Offset; i < all.Count; i++)
                {
                    var (name, n) = all[i];
                    int size = r.Opcode == Opcode.ReadDir ? Dirents.Size(Encoding.UTF8.GetByteCount(name)) : Dirents.PlusSize(Encoding.UTF8.GetByteCount(name));
                    if (b.Length + size > ri.Size) break;
                    if (r.Opcode == Opcode.ReadDir) Dirents.Append(b, n.Id, (ulong)i + 1, Posix.DirentType(n.Mode), name);
                    else
                    {
                        var e = name is "." or ".." ? new FuseEntryOut { NodeId = n.Id, Attr = AttrOf(n) } : EntryOf(n);
                        Dirents.AppendPlus(b, e, (ulong)i + 1, Posix.DirentType(n.Mode), name);
                    }
                }
                Ok(r, b.ToArray());
                return;
            }
            case Opcode.Flush:
            case Opcode.Fsync:
            case Opcode.FsyncDir:
            case Opcode.Fallocate:
                if (r.Opcode == Opcode.Fallocate)
                {
                    var fa = r.Arg<FuseFallocateIn>();
                    int end = (int)(fa.Offset + fa.Length);
                    if (end > node.Data.Length) { var d = node.Data; Array.Resize(ref d, end); node.Data = d; }
                }
                Ok(r, ReadOnlySpan<byte>.Empty);
                return;
            case Opcode.SetXAttr:
            {
                var si = r.Arg<FuseSetXAttrIn>(); // SETXATTR_EXT is negotiated: the 16-byte form
                string name = r.Name(16);
                var value = r.Body.AsSpan(16 + Encoding.UTF8.GetByteCount(name) + 1, (int)si.Size).ToArray();
                if ((si.Flags & FuseConstants.XattrCreate) != 0 && node.Xattrs.ContainsKey(name)) { Err(r, Errno.EEXIST); return; }
                node.Xattrs[name] = value;
                Ok(r, ReadOnlySpan<byte>.Empty);
                return;
            }
            case Opcode.GetXAttr:
            {
                uint size = r.Arg<FuseGetXAttrIn>().Size;
                if (!node.Xattrs.TryGetValue(r.Name(8), out var v)) { Err(r, Errno.ENODATA); return; }
                if (size == 0) Ok(r, new FuseGetXAttrOut { Size = (uint)v.Length });
                else if (size < v.Length) Err(r, Errno.ERANGE);
                else Ok(r, v);
                return;
            }
            case Opcode.ListXAttr:
            {
                uint size = r.Arg<FuseGetXAttrIn>().Size;
                var list = Encoding.UTF8.GetBytes(string.Concat(node.Xattrs.Keys.Order().Select(k => k + "\0")));
                if (size == 0) Ok(r, new FuseGetXAttrOut { Size = (uint)list.Length });
                else if (size < list.Length) Err(r, Errno.ERANGE);
                else Ok(r, list);
                return;
            }
            case Opcode.RemoveXAttr:
                if (node.Xattrs.Remove(r.Name())) Ok(r, ReadOnlySpan<byte>.Empty);
                else Err(r, Errno.ENODATA);
                return;
            case Opcode.StatFs:
                Ok(r, new FuseStatFsOut { St = new FuseKStatFs { Blocks = 1000, Bfree = 500, Bavail = 500, Files = 100, Ffree = 50, Bsize = 4096, NameLen = 255, Frsize = 4096 } });
                return;
            case Opcode.Lseek:
            {
                var li = r.Arg<FuseLseekIn>();
                Ok(r, new FuseLseekOut { Offset = li.Whence == Posix.SEEK_HOLE ? (ulong)node.Data.Length : li.Offset });
                return;
            }
            case Opcode.CopyFileRange64 when !CopyFileRange64:
                Err(r, Errno.ENOSYS);
                return;
            case Opcode.CopyFileRange:
            case Opcode.CopyFileRange64:
            {
                var ci = r.Arg<FuseCopyFileRangeIn>();
                var dst = _nodes[ci.NodeIdOut];
                int len = (int)Math.Min(ci.Len, (ulong)Math.Max(0, node.Data.Length - (int)ci.OffIn));
                int end = (int)ci.OffOut + len;
                if (end > dst.Data.Length) { var d = dst.Data; Array.Resize(ref d, end); dst.Data = d; }
                node.Data.AsSpan((int)ci.OffIn, len).CopyTo(dst.Data.AsSpan((int)ci.OffOut));
                if (r.Opcode == Opcode.CopyFileRange64) Ok(r, new FuseCopyFileRangeOut { BytesCopied = (ulong)len });
                else Ok(r, new FuseWriteOut { Size = (uint)len });
                return;
            }
            case Opcode.Access:
                if (AccessSupported) Ok(r, ReadOnlySpan<byte>.Empty); else Err(r, Errno.ENOSYS);
                return;
            case Opcode.Bmap:
                Ok(r, new FuseBmapOut { Block = r.Arg<FuseBmapIn>().Block + 1000 });
                return;
            default:
                Err(r, Errno.ENOSYS);
                return;
        }
    }
}
