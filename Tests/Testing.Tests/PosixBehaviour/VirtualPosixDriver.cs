using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.PosixBehaviour;

/// <summary>
/// <see cref="IPosixDriver"/> over a filesystem served on the VirtualDevice, doing what the kernel's VFS does for each
/// syscall: LOOKUP each path component (and FORGET it afterwards), then the operation on the node. An open file holds
/// its node's lookup until it is closed, as an open file pins its inode.
/// </summary>
public sealed class VirtualPosixDriver(VfsClient client, Func<Task>? stop = null) : IPosixDriver
{
    public IPosixDriver As(uint uid, uint gid) => new VirtualPosixDriver(client.As(new FuseCaller(uid, gid, client.Caller.Pid)));

    public ValueTask DisposeAsync() => stop is null ? ValueTask.CompletedTask : new ValueTask(stop());

    // ------------------------------------------------------------ path walking

    /// <summary>Lookups held while a call runs; given back when it ends.</summary>
    private sealed class Held(VfsClient client) : IDisposable
    {
        private readonly List<ulong> _nodes = [];
        public ulong Node { get; private set; } = FuseConstants.RootId;
        public FuseAttr? Attr { get; private set; }

        public async Task StepAsync(string name)
        {
            var e = await client.LookupAsync(Node, name);
            _nodes.Add(e.NodeId);
            Node = e.NodeId;
            Attr = e.Attr;
        }

        public void Keep(ulong node) => _nodes.Add(node);

        /// <summary>Hands the lookup of the last component to the caller (an open file keeps it); 0 for the root.</summary>
        public ulong TakeLast()
        {
            if (_nodes.Count == 0) return 0;
            var last = _nodes[^1];
            _nodes.RemoveAt(_nodes.Count - 1);
            return last;
        }

        public void Dispose()
        {
            foreach (var n in _nodes) client.Forget(n);
            _nodes.Clear();
        }
    }

    private static string[] Parts(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private async Task<Held> WalkAsync(IEnumerable<string> parts)
    {
        var held = new Held(client);
        try
        {
            foreach (var p in parts) await held.StepAsync(p);
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private Task<Held> WalkAsync(string path) => WalkAsync(Parts(path));

    /// <summary>The parent directory (walked) and the last name.</summary>
    private async Task<(Held Parent, string Name)> ParentAsync(string path)
    {
        var parts = Parts(path);
        return (await WalkAsync(parts[..^1]), parts[^1]);
    }

    // ------------------------------------------------------------ names

    public async Task<PosixStat> LstatAsync(string path)
    {
        using var w = await WalkAsync(path);
        var attr = w.Attr ?? (await client.GetAttrAsync(w.Node)).Attr;
        return Stat(attr);
    }

    internal static PosixStat Stat(in FuseAttr a) => new(a.Ino, a.Mode, a.Nlink, a.Uid, a.Gid, (long)a.Size);

    public async Task<PosixStatFs> StatFsAsync()
    {
        var s = await client.StatFsAsync();
        return new PosixStatFs(s.Files, s.Ffree, s.Blocks, s.Bfree);
    }

    public async Task MkDirAsync(string path, uint mode)
    {
        var (p, name) = await ParentAsync(path);
        using (p) p.Keep((await client.MkDirAsync(p.Node, name, mode)).NodeId);
    }

    public async Task RmDirAsync(string path)
    {
        var (p, name) = await ParentAsync(path);
        using (p) await client.RmDirAsync(p.Node, name);
    }

    public async Task UnlinkAsync(string path)
    {
        var (p, name) = await ParentAsync(path);
        using (p) await client.UnlinkAsync(p.Node, name);
    }

    public async Task RenameAsync(string from, string to, uint flags = 0)
    {
        var (a, oldName) = await ParentAsync(from);
        using (a)
        {
            var (b, newName) = await ParentAsync(to);
            using (b) await client.RenameAsync(a.Node, oldName, b.Node, newName, flags);
        }
    }

    public async Task LinkAsync(string existing, string newPath)
    {
        using var target = await WalkAsync(existing);
        var (p, name) = await ParentAsync(newPath);
        using (p) p.Keep((await client.LinkAsync(target.Node, p.Node, name)).NodeId);
    }

    public async Task SymlinkAsync(string target, string linkPath)
    {
        var (p, name) = await ParentAsync(linkPath);
        using (p) p.Keep((await client.SymlinkAsync(p.Node, name, target)).NodeId);
    }

    public async Task<string> ReadLinkAsync(string path)
    {
        using var w = await WalkAsync(path);
        return await client.ReadLinkAsync(w.Node);
    }

    public async Task ChmodAsync(string path, uint mode)
    {
        using var w = await WalkAsync(path);
        await client.ChmodAsync(w.Node, mode);
    }

    public async Task ChownAsync(string path, uint uid, uint gid)
    {
        using var w = await WalkAsync(path);
        await client.ChownAsync(w.Node, uid, gid);
    }

    public async Task TruncateAsync(string path, long size)
    {
        using var w = await WalkAsync(path);
        await client.TruncateAsync(w.Node, (ulong)size);
    }

    // ------------------------------------------------------------ files

    public async Task<IPosixFile> OpenAsync(string path, int flags, uint mode = 0x1A4)
    {
        if ((flags & Posix.O_CREAT) == 0)
        {
            using var w = await WalkAsync(path);
            var h = await client.OpenAsync(w.Node, flags);
            return new File(client, h, w.TakeLast());
        }
        var (p, name) = await ParentAsync(path);
        using (p)
        {
            VfsEntry existing;
            try
            {
                existing = await client.LookupAsync(p.Node, name);
            }
            catch (FuseErrnoException e) when (e.Errno == Errno.ENOENT)
            {
                var created = await client.CreateAsync(p.Node, name, flags, mode);
                return new File(client, created.Handle, created.Entry.NodeId);
            }
            try
            {
                if ((flags & Posix.O_EXCL) != 0) throw new FuseErrnoException(Errno.EEXIST, Opcode.Create, path);
                return new File(client, await client.OpenAsync(existing.NodeId, flags), existing.NodeId);
            }
            catch
            {
                client.Forget(existing.NodeId);
                throw;
            }
        }
    }

    private sealed class File(VfsClient client, VfsHandle handle, ulong lookupHeld) : IPosixFile
    {
        public async Task<byte[]> PReadAsync(long offset, int count) => await client.ReadAsync(handle, (ulong)offset, count);

        public async Task<int> PWriteAsync(long offset, byte[] data) => (int)await client.WriteAsync(handle, (ulong)offset, data);

        public async Task<long> SeekAsync(long offset, int whence) => whence switch
        {
            Posix.SEEK_SET => offset,
            Posix.SEEK_END => (long)(await client.GetAttrAsync(handle.NodeId, handle.Fh)).Size + offset,
            _ => (long)await client.LseekAsync(handle, (ulong)offset, whence),
        };

        public async Task<PosixStat> FStatAsync() => Stat((await client.GetAttrAsync(handle.NodeId, handle.Fh)).Attr);

        public async ValueTask DisposeAsync()
        {
            await client.FlushAsync(handle);
            await client.ReleaseAsync(handle);
            if (lookupHeld != 0) client.Forget(lookupHeld);
        }
    }

    // ------------------------------------------------------------ xattrs

    public async Task SetXAttrAsync(string path, string name, byte[] value, int flags = 0)
    {
        using var w = await WalkAsync(path);
        await client.SetXAttrAsync(w.Node, name, value, (uint)flags);
    }

    public async Task<int> GetXAttrSizeAsync(string path, string name)
    {
        using var w = await WalkAsync(path);
        return (int)await client.GetXAttrSizeAsync(w.Node, name);
    }

    public async Task<byte[]> GetXAttrAsync(string path, string name, int bufferSize)
    {
        using var w = await WalkAsync(path);
        return await client.GetXAttrAsync(w.Node, name, (uint)bufferSize);
    }

    public async Task<int> ListXAttrSizeAsync(string path)
    {
        using var w = await WalkAsync(path);
        var reply = await client.SendAsync(new VirtualRequest(Opcode.ListXAttr, w.Node, Wire.Bytes(new FuseGetXAttrIn { Size = 0 })));
        if (!reply.IsOk) throw new FuseErrnoException(reply.Error, Opcode.ListXAttr);
        return (int)reply.Read<FuseGetXAttrOut>().Size;
    }

    public async Task<string[]> ListXAttrAsync(string path)
    {
        using var w = await WalkAsync(path);
        return [.. await client.ListXAttrAsync(w.Node)];
    }

    public async Task RemoveXAttrAsync(string path, string name)
    {
        using var w = await WalkAsync(path);
        await client.RemoveXAttrAsync(w.Node, name);
    }

    // ------------------------------------------------------------ directories

    public async Task<IReadOnlyList<PosixDirEntry>> ReadDirAsync(string path, long cookie, int max)
    {
        using var w = await WalkAsync(path);
        var h = await client.OpenDirAsync(w.Node);
        try
        {
            var result = new List<PosixDirEntry>();
            ulong offset = (ulong)cookie;
            while (result.Count < max)
            {
                var batch = await client.ReadDirAsync(h, offset);
                if (batch.Count == 0) break;
                foreach (var e in batch.Take(max - result.Count)) result.Add(new PosixDirEntry(e.Name.ToString(), (long)e.Offset));
                offset = batch[^1].Offset;
            }
            return result;
        }
        finally
        {
            await client.ReleaseDirAsync(h);
        }
    }
}
