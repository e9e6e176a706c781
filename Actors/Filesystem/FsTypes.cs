using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>A node handed to the kernel (LOOKUP, MKDIR, CREATE, ...): each one adds 1 to the node's lookup count.</summary>
public struct Entry
{
    public ulong NodeId;
    /// <summary>(NodeId, Generation) must never name two different objects during the filesystem's life.</summary>
    public ulong Generation;
    public FuseAttr Attr;
    /// <summary>How long the kernel may trust the name → node mapping; null means the mount's default.</summary>
    public TimeSpan? EntryTimeout;
    /// <summary>How long the kernel may trust the attributes; null means the mount's default.</summary>
    public TimeSpan? AttrTimeout;

    internal readonly FuseEntryOut ToWire(ReplySettings s)
    {
        var (es, ens) = Split(EntryTimeout ?? s.EntryTimeout);
        var (@as, ans) = Split(AttrTimeout ?? s.AttrTimeout);
        return new FuseEntryOut
        {
            NodeId = NodeId,
            Generation = Generation,
            EntryValid = es,
            EntryValidNsec = ens,
            AttrValid = @as,
            AttrValidNsec = ans,
            Attr = Attr,
        };
    }

    internal static (ulong Sec, uint Nsec) Split(TimeSpan t)
    {
        if (t <= TimeSpan.Zero) return (0, 0);
        long ticks = t.Ticks;
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }
}

/// <summary>File type bits and helpers for <see cref="FuseAttr.Mode"/>.</summary>
public static class ModeBits
{
    public const uint TypeMask = 0xF000;
    public const uint Socket = 0xC000;
    public const uint Symlink = 0xA000;
    public const uint Regular = 0x8000;
    public const uint Block = 0x6000;
    public const uint Directory = 0x4000;
    public const uint Char = 0x2000;
    public const uint Fifo = 0x1000;
    public const uint SetUid = 0x800;
    public const uint SetGid = 0x400;
    public const uint Sticky = 0x200;
    public const uint PermMask = 0xFFF;

    public static bool IsDirectory(uint mode) => (mode & TypeMask) == Directory;
    public static bool IsRegular(uint mode) => (mode & TypeMask) == Regular;
    public static bool IsSymlink(uint mode) => (mode & TypeMask) == Symlink;

    /// <summary>True for the seven types the kernel accepts in fuse_attr.mode.</summary>
    public static bool IsValidType(uint mode) => (mode & TypeMask) switch
    {
        Socket or Symlink or Regular or Block or Directory or Char or Fifo => true,
        _ => false,
    };

    /// <summary>The DT_* value readdir reports for a mode.</summary>
    public static uint DirentType(uint mode) => (mode & TypeMask) >> 12;
}

/// <summary>A point in time as the kernel stores it: seconds and nanoseconds since the epoch.</summary>
public readonly record struct FsTime(long Seconds, uint Nanoseconds)
{
    public static FsTime Now
    {
        get
        {
            long ticks = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
            return new FsTime(ticks / TimeSpan.TicksPerSecond, (uint)(ticks % TimeSpan.TicksPerSecond * 100));
        }
    }
}

/// <summary>Convenience setters for the times of a <see cref="FuseAttr"/>.</summary>
public static class FuseAttrExtensions
{
    public static void SetAtime(ref this FuseAttr a, FsTime t) { a.Atime = (ulong)t.Seconds; a.AtimeNsec = t.Nanoseconds; }
    public static void SetMtime(ref this FuseAttr a, FsTime t) { a.Mtime = (ulong)t.Seconds; a.MtimeNsec = t.Nanoseconds; }
    public static void SetCtime(ref this FuseAttr a, FsTime t) { a.Ctime = (ulong)t.Seconds; a.CtimeNsec = t.Nanoseconds; }
}

/// <summary>Filesystem statistics for STATFS.</summary>
public struct StatFs
{
    public ulong Blocks, BlocksFree, BlocksAvailable, Files, FilesFree;
    public uint BlockSize, NameLength, FragmentSize;
}
