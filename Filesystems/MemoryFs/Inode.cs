using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>
/// One file-system object. A single class for every type keeps lookups monomorphic; the type-specific part is in
/// <see cref="Data"/> (regular files), <see cref="Entries"/> (directories) or <see cref="Target"/> (symlinks).
/// </summary>
internal sealed class Inode
{
    public const uint BlockSize = 4096;

    public readonly ulong Ino;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public FsTime Atime;
    public FsTime Mtime;
    public FsTime Ctime;

    /// <summary>Hard links for non-directories. For a directory: 1 while it has a name, 0 once removed; its
    /// reported nlink is then 2 + subdirectories (its own "." and its parent's entry, plus each child's "..").</summary>
    public uint Links;

    /// <summary>References the kernel holds (sum of entry replies minus FORGETs).</summary>
    public ulong LookupCount;
    /// <summary>Open handles (files and directories).</summary>
    public int OpenCount;
    /// <summary>What this inode was charged against the capacity when it was made (MemoryFs.MetadataCost).</summary>
    public long MetadataBytes;
    /// <summary>Made by O_TMPFILE and never named yet: a LINK may give it its first name (the kernel decides whether
    /// it may, by O_EXCL).</summary>
    public bool Unnamed;

    public readonly FileContent? Data;
    public readonly DirectoryEntries? Entries;
    /// <summary>The directory holding this directory's name ("..", and the loop check of RENAME). Root: itself.</summary>
    public Inode? Parent;
    /// <summary>A symlink's target, its exact bytes.</summary>
    public readonly byte[]? Target;
    private readonly int _targetBytes;

    /// <summary>By the attribute name's exact bytes.</summary>
    public Dictionary<byte[], byte[]>? Xattrs;

    public Inode(ulong ino, uint mode, uint uid, uint gid, FsTime now, uint rdev = 0, byte[]? target = null, long spillThreshold = long.MaxValue)
    {
        Ino = ino;
        Mode = mode;
        Uid = uid;
        Gid = gid;
        Rdev = rdev;
        Atime = Mtime = Ctime = now;
        Links = 1;
        switch (mode & ModeBits.TypeMask)
        {
            case ModeBits.Regular: Data = new FileContent(spillThreshold); break;
            case ModeBits.Directory: Entries = new DirectoryEntries(); break;
            case ModeBits.Symlink:
                Target = target ?? [];
                _targetBytes = Target.Length;
                break;
        }
    }

    public bool IsDirectory => Entries is not null;
    public bool IsRegular => Data is not null;

    public uint Nlink => Entries is null ? Links : Links == 0 ? 0 : 2u + (uint)Entries.SubdirCount;

    /// <summary>Gone from every directory, and nothing refers to it any more: free it.</summary>
    public bool CanFree => Links == 0 && LookupCount == 0 && OpenCount == 0;

    public ulong Size => Data is not null ? (ulong)Data.Size
        : Entries is not null ? (ulong)(Entries.Count + 2) * 20 // like tmpfs: a nominal 20 bytes per entry
        : (ulong)_targetBytes;

    public FuseAttr ToAttr()
    {
        var a = new FuseAttr
        {
            Ino = Ino,
            Size = Size,
            Blocks = Data is null ? 0 : (ulong)Data.AllocatedBytes / 512,
            Mode = Mode,
            Nlink = Nlink,
            Uid = Uid,
            Gid = Gid,
            Rdev = Rdev,
            BlkSize = BlockSize,
        };
        a.SetAtime(Atime);
        a.SetMtime(Mtime);
        a.SetCtime(Ctime);
        return a;
    }

    public Entry ToEntry() => new() { NodeId = Ino, Generation = 0, Attr = ToAttr() };

    /// <summary>Contents changed (write, truncate, entries added or removed).</summary>
    public void Modified(FsTime now)
    {
        Mtime = now;
        Ctime = now;
    }
}
