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

    internal readonly FuseEntryOut ToWire(NegotiatedProtocol p) =>
        ReplyEncoder.EntryOut(NodeId, Generation, Attr, EntryTimeout ?? p.EntryTimeout, AttrTimeout ?? p.AttrTimeout);
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
