using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// Files by path, for apps that want files rather than nodes: every call walks LOOKUPs from the root, does its work,
/// and gives back every lookup it took (so the filesystem's lookup counts return to where they were).
/// Paths are '/'-separated and relative to the mount root; "." and ".." are understood. A path is bytes, as on Linux:
/// every method takes a <c>byte[]</c> path (names that are not UTF-8 pass as they are), and a <c>string</c> path,
/// UTF-8 encoded, for convenience.
/// </summary>
public sealed class VfsPathClient
{
    public VfsPathClient(VfsClient client) => Client = client ?? throw new ArgumentNullException(nameof(client));

    public VfsPathClient(VirtualDevice device, FuseCaller? caller = null) : this(new VfsClient(device, caller)) { }

    public VfsClient Client { get; }

    // ------------------------------------------------------------------ walking

    /// <summary>Lookups taken while resolving a path; disposing forgets them all.</summary>
    private sealed class Walk(VfsClient client) : IDisposable
    {
        private readonly List<ulong> _held = [];
        public ulong Node { get; private set; } = FuseConstants.RootId;
        public FuseAttr? Attr { get; private set; }

        public async Task StepAsync(FileName name, CancellationToken ct)
        {
            var e = await client.LookupAsync(Node, name, ct).ConfigureAwait(false);
            _held.Add(e.NodeId);
            Node = e.NodeId;
            Attr = e.Attr;
        }

        public void Up()
        {
            if (_held.Count == 0) return; // ".." at the root stays at the root
            client.Forget(_held[^1]);
            _held.RemoveAt(_held.Count - 1);
            Node = _held.Count == 0 ? FuseConstants.RootId : _held[^1];
            Attr = null;
        }

        public void Dispose()
        {
            for (int i = _held.Count - 1; i >= 0; i--) client.Forget(_held[i]);
            _held.Clear();
        }
    }

    private static byte[] Utf8Path(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Encoding.UTF8.GetBytes(path);
    }

    private static bool IsDot(FileName n) => n.Length == 1 && n.IsDotOrDotDot;
    private static bool IsDotDot(FileName n) => n.Length == 2 && n.IsDotOrDotDot;

    /// <summary>The path's components, each its exact bytes ("." and empty components dropped).</summary>
    private static List<FileName> Split(byte[] path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var parts = new List<FileName>();
        ReadOnlySpan<byte> rest = path;
        while (!rest.IsEmpty)
        {
            int slash = rest.IndexOf((byte)'/');
            var part = slash < 0 ? rest : rest[..slash];
            rest = slash < 0 ? default : rest[(slash + 1)..];
            if (part.IsEmpty) continue;
            var name = FileName.FromBytes(part);
            if (!IsDot(name)) parts.Add(name);
        }
        return parts;
    }

    private async Task<Walk> WalkAsync(IEnumerable<FileName> parts, CancellationToken ct)
    {
        var w = new Walk(Client);
        try
        {
            foreach (var p in parts)
            {
                if (IsDotDot(p)) w.Up();
                else await w.StepAsync(p, ct).ConfigureAwait(false);
            }
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    /// <summary>Splits a path into its parent's components and its last name (which must not be "." or "..").</summary>
    private static (List<FileName> Parent, FileName Name) SplitLast(byte[] path)
    {
        var parts = Split(path);
        if (parts.Count == 0 || IsDotDot(parts[^1]))
            throw new FuseErrnoException(Errno.EINVAL, null, $"'{FileName.Display(path)}' names no entry");
        var name = parts[^1];
        parts.RemoveAt(parts.Count - 1);
        return (parts, name);
    }

    // ------------------------------------------------------------------ queries

    /// <summary>The attributes of the file at <paramref name="path"/>.</summary>
    public Task<VfsAttr> GetAttrAsync(string path, CancellationToken cancellationToken = default) =>
        GetAttrAsync(Utf8Path(path), cancellationToken);

    public async Task<VfsAttr> GetAttrAsync(byte[] path, CancellationToken cancellationToken = default)
    {
        using var w = await WalkAsync(Split(path), cancellationToken).ConfigureAwait(false);
        return await Client.GetAttrAsync(w.Node, null, cancellationToken).ConfigureAwait(false);
    }

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) =>
        ExistsAsync(Utf8Path(path), cancellationToken);

    public async Task<bool> ExistsAsync(byte[] path, CancellationToken cancellationToken = default)
    {
        try
        {
            using var w = await WalkAsync(Split(path), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (FuseErrnoException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            return false;
        }
    }

    /// <summary>The names in a directory ("." and ".." left out).</summary>
    public Task<IReadOnlyList<VfsDirEntry>> ListDirectoryAsync(string path, CancellationToken cancellationToken = default) =>
        ListDirectoryAsync(Utf8Path(path), cancellationToken);

    public async Task<IReadOnlyList<VfsDirEntry>> ListDirectoryAsync(byte[] path, CancellationToken cancellationToken = default)
    {
        using var w = await WalkAsync(Split(path), cancellationToken).ConfigureAwait(false);
        var h = await Client.OpenDirAsync(w.Node, cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var all = await Client.ReadDirAllAsync(h, cancellationToken).ConfigureAwait(false);
            return all.Where(e => !e.Name.IsDotOrDotDot).ToList();
        }
        finally
        {
            _ = Client.ReleaseDirAsync(h);
        }
    }

    // ------------------------------------------------------------------ contents

    public Task<byte[]> ReadAllBytesAsync(string path, CancellationToken cancellationToken = default) =>
        ReadAllBytesAsync(Utf8Path(path), cancellationToken);

    public async Task<byte[]> ReadAllBytesAsync(byte[] path, CancellationToken cancellationToken = default)
    {
        using var w = await WalkAsync(Split(path), cancellationToken).ConfigureAwait(false);
        var h = await Client.OpenAsync(w.Node, Posix.O_RDONLY, cancellationToken).ConfigureAwait(false);
        try
        {
            using var ms = new MemoryStream();
            ulong offset = 0;
            while (true)
            {
                var chunk = await Client.ReadAsync(h, offset, Client.Options.ReadChunkSize, cancellationToken).ConfigureAwait(false);
                if (chunk.Length == 0) break;
                ms.Write(chunk);
                offset += (ulong)chunk.Length;
            }
            await Client.FlushAsync(h, cancellationToken: cancellationToken).ConfigureAwait(false);
            return ms.ToArray();
        }
        finally
        {
            _ = Client.ReleaseAsync(h);
        }
    }

    public async Task<string> ReadAllTextAsync(string path, CancellationToken cancellationToken = default) =>
        Encoding.UTF8.GetString(await ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Creates the file, or truncates it, and writes <paramref name="data"/> into it.</summary>
    public Task WriteAllBytesAsync(string path, ReadOnlyMemory<byte> data, uint mode = 0x1A4 /*0644*/,
        CancellationToken cancellationToken = default) =>
        WriteAllBytesAsync(Utf8Path(path), data, mode, cancellationToken);

    /// <summary>Creates the file, or truncates it, and writes <paramref name="data"/> into it.</summary>
    public async Task WriteAllBytesAsync(byte[] path, ReadOnlyMemory<byte> data, uint mode = 0x1A4 /*0644*/,
        CancellationToken cancellationToken = default)
    {
        var (parentParts, name) = SplitLast(path);
        using var w = await WalkAsync(parentParts, cancellationToken).ConfigureAwait(false);
        VfsHandle h;
        ulong node;
        bool holdsLookup;
        try
        {
            var existing = await Client.LookupAsync(w.Node, name, cancellationToken).ConfigureAwait(false);
            node = existing.NodeId;
            holdsLookup = true;
            try
            {
                if (existing.IsDirectory) throw new FuseErrnoException(Errno.EISDIR, Opcode.Open, FileName.Display(path));
                bool atomicTrunc = (Client.Device.NegotiatedFlags & InitFlags.AtomicOTrunc) != 0;
                h = await Client.OpenAsync(node, Posix.O_WRONLY | (atomicTrunc ? Posix.O_TRUNC : 0), cancellationToken).ConfigureAwait(false);
                if (!atomicTrunc && existing.Size != 0)
                    await Client.TruncateAsync(node, 0, h.Fh, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Client.Forget(node);
                throw;
            }
        }
        catch (FuseErrnoException e) when (e.Errno == Errno.ENOENT && e.Opcode == Opcode.Lookup)
        {
            var created = await Client.CreateAsync(w.Node, name, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_TRUNC, mode,
                cancellationToken: cancellationToken).ConfigureAwait(false);
            node = created.Entry.NodeId;
            holdsLookup = true;
            h = created.Handle;
        }

        try
        {
            if (data.Length > 0)
            {
                long written = await Client.WriteAsync(h, 0, data, cancellationToken).ConfigureAwait(false);
                if (written != data.Length) throw new FuseErrnoException(Errno.EIO, Opcode.Write, $"short write: {written} of {data.Length}");
            }
            await Client.FlushAsync(h, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _ = Client.ReleaseAsync(h);
            if (holdsLookup) Client.Forget(node);
        }
    }

    public Task WriteAllTextAsync(string path, string text, CancellationToken cancellationToken = default) =>
        WriteAllBytesAsync(path, Encoding.UTF8.GetBytes(text), cancellationToken: cancellationToken);

    // ------------------------------------------------------------------ namespace

    /// <summary>Creates a directory and any missing parents (no error if it exists already as a directory).</summary>
    public Task CreateDirectoryAsync(string path, uint mode = 0x1ED /*0755*/, CancellationToken cancellationToken = default) =>
        CreateDirectoryAsync(Utf8Path(path), mode, cancellationToken);

    public async Task CreateDirectoryAsync(byte[] path, uint mode = 0x1ED /*0755*/, CancellationToken cancellationToken = default)
    {
        using var w = new Walk(Client);
        foreach (var p in Split(path))
        {
            if (IsDotDot(p)) { w.Up(); continue; }
            try
            {
                await w.StepAsync(p, cancellationToken).ConfigureAwait(false);
            }
            catch (FuseErrnoException e) when (e.Errno == Errno.ENOENT)
            {
                try
                {
                    var made = await Client.MkDirAsync(w.Node, p, mode, cancellationToken: cancellationToken).ConfigureAwait(false);
                    Client.Forget(made.NodeId);
                }
                catch (FuseErrnoException e2) when (e2.Errno == Errno.EEXIST) { }
                await w.StepAsync(p, cancellationToken).ConfigureAwait(false);
            }
            if (w.Attr is { } a && !Posix.IsDir(a.Mode)) throw new FuseErrnoException(Errno.ENOTDIR, Opcode.MkDir, FileName.Display(path));
        }
    }

    /// <summary>Removes a file (UNLINK) or an empty directory (RMDIR); with <paramref name="recursive"/>, a directory
    /// and everything in it.</summary>
    public Task DeleteAsync(string path, bool recursive = false, CancellationToken cancellationToken = default) =>
        DeleteAsync(Utf8Path(path), recursive, cancellationToken);

    public async Task DeleteAsync(byte[] path, bool recursive = false, CancellationToken cancellationToken = default)
    {
        var (parentParts, name) = SplitLast(path);
        using var w = await WalkAsync(parentParts, cancellationToken).ConfigureAwait(false);
        var e = await Client.LookupAsync(w.Node, name, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!e.IsDirectory)
            {
                await Client.UnlinkAsync(w.Node, name, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (recursive)
            {
                var childPath = Join(parentParts, name);
                foreach (var child in await ListDirectoryAsync(childPath, cancellationToken).ConfigureAwait(false))
                    await DeleteAsync(Join([.. parentParts, name], child.Name), true, cancellationToken).ConfigureAwait(false);
            }
            await Client.RmDirAsync(w.Node, name, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Client.Forget(e.NodeId);
        }
    }

    /// <summary>Renames (RENAME; with <paramref name="noReplace"/>, RENAME2 with RENAME_NOREPLACE).</summary>
    public Task MoveAsync(string from, string to, bool noReplace = false, CancellationToken cancellationToken = default) =>
        MoveAsync(Utf8Path(from), Utf8Path(to), noReplace, cancellationToken);

    public async Task MoveAsync(byte[] from, byte[] to, bool noReplace = false, CancellationToken cancellationToken = default)
    {
        var (fromParent, fromName) = SplitLast(from);
        var (toParent, toName) = SplitLast(to);
        using var a = await WalkAsync(fromParent, cancellationToken).ConfigureAwait(false);
        using var b = await WalkAsync(toParent, cancellationToken).ConfigureAwait(false);
        await Client.RenameAsync(a.Node, fromName, b.Node, toName, noReplace ? FuseConstants.RenameNoReplace : 0, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>The path of <paramref name="last"/> under <paramref name="parent"/>'s components.</summary>
    private static byte[] Join(List<FileName> parent, FileName last)
    {
        int length = last.Length;
        foreach (var p in parent) length += p.Length + 1;
        var path = new byte[length];
        int at = 0;
        foreach (var p in parent)
        {
            p.Bytes.CopyTo(path.AsSpan(at));
            at += p.Length;
            path[at++] = (byte)'/';
        }
        last.Bytes.CopyTo(path.AsSpan(at));
        return path;
    }
}
