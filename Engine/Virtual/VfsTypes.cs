using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;


/// <summary>A node handed out by LOOKUP, MKNOD, MKDIR, SYMLINK, LINK or CREATE. Each one holds one lookup that the
/// caller gives back with <see cref="VfsClient.Forget"/> when done with the node.</summary>
public readonly record struct VfsEntry(ulong NodeId, ulong Generation, FuseAttr Attr, TimeSpan EntryTimeout, TimeSpan AttrTimeout)
{
    public uint Mode => Attr.Mode;
    public ulong Size => Attr.Size;
    public bool IsDirectory => Posix.IsDir(Attr.Mode);
    public bool IsFile => Posix.IsReg(Attr.Mode);

    internal static VfsEntry From(in FuseEntryOut e) =>
        new(e.NodeId, e.Generation, e.Attr, Timeout(e.EntryValid, e.EntryValidNsec), Timeout(e.AttrValid, e.AttrValidNsec));

    internal static TimeSpan Timeout(ulong sec, uint nsec) =>
        sec > (ulong)TimeSpan.MaxValue.TotalSeconds - 1 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(sec) + TimeSpan.FromTicks(nsec / 100);
}

/// <summary>Attributes with their validity.</summary>
public readonly record struct VfsAttr(FuseAttr Attr, TimeSpan Timeout, bool FromCache = false)
{
    public uint Mode => Attr.Mode;
    public ulong Size => Attr.Size;
    public bool IsDirectory => Posix.IsDir(Attr.Mode);
    public bool IsFile => Posix.IsReg(Attr.Mode);
}

/// <summary>An open file or directory: the node and the daemon's file handle. Give it back with
/// <see cref="VfsClient.ReleaseAsync"/> or <see cref="VfsClient.ReleaseDirAsync"/>.</summary>
public readonly record struct VfsHandle(ulong NodeId, ulong Fh, uint OpenFlags, uint Flags);

/// <summary>The result of CREATE: a new node (one lookup held) and its open file.</summary>
public readonly record struct VfsCreated(VfsEntry Entry, VfsHandle Handle);

/// <summary>A directory record: inode number, the cookie of the next record, DT_* type and name — the caller-facing
/// form of the protocol's <see cref="Dirent"/> (whose <c>NextOffset</c> is <see cref="Offset"/> here).</summary>
public readonly record struct VfsDirEntry(ulong Ino, ulong Offset, uint Type, FileName Name)
{
    public bool IsDirectory => Type == Posix.DT_DIR;

    internal static VfsDirEntry From(in Dirent d) => new(d.Ino, d.NextOffset, d.Type, d.Name);
}

/// <summary>A READDIRPLUS record. When <see cref="HoldsLookup"/> is true the entry counted as a lookup of
/// <see cref="Entry"/>'s node, which the caller gives back with <see cref="VfsClient.Forget"/>.</summary>
public readonly record struct VfsDirEntryPlus(VfsDirEntry Dirent, VfsEntry Entry, bool HoldsLookup)
{
    /// <summary>The kernel's rule: every entry with a node counts as a lookup, except "." and "..", and except an entry
    /// it cannot link (bad file type, or the root's id), which it forgets at once.</summary>
    public static bool HoldsLookupFor(in FuseEntryOut e, FileName name) =>
        e.NodeId != 0 && !name.IsDotOrDotDot && e.NodeId != FuseConstants.RootId && Posix.IsValidFileType(e.Attr.Mode);
}

/// <summary>Settings of a <see cref="VfsClient"/>.</summary>
public sealed record VfsClientOptions
{
    /// <summary>GETATTR is answered from the attribute cache while attr_valid lasts (as stat(2) is). Default on.</summary>
    public bool UseAttrCache { get; init; } = true;

    /// <summary>LOOKUP of a name with a valid negative dentry fails with ENOENT without a request. Default on.</summary>
    public bool UseNegativeEntryCache { get; init; } = true;

    /// <summary>Chunk size of <see cref="VfsPathClient.ReadAllBytesAsync"/> reads.</summary>
    public int ReadChunkSize { get; init; } = 128 * 1024;
}
