using System.Runtime.InteropServices;

namespace FuseActors.Engine.Protocol;

// Kernel ABI structs of linux/fuse.h (protocol 7.45), field for field and in order.
// Every struct here is a multiple of 8 bytes with explicit padding, so a sequential layout
// with Pack = 1 reproduces the C layout exactly; StructLayoutTests checks each size and offset
// against the header compiled on this machine. Read and write them with MemoryMarshal.

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseInHeader
{
    public uint Len;
    public uint Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtLen;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseOutHeader
{
    public uint Len;
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseKStatFs
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint NameLen;
    public uint Frsize;
    public uint Padding;
    public uint Spare0, Spare1, Spare2, Spare3, Spare4, Spare5;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseFileLock
{
    public ulong Start;
    public ulong End;
    public uint Type;
    public uint Pid;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseEntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseForgetIn { public ulong NLookup; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseForgetOne { public ulong NodeId; public ulong NLookup; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseBatchForgetIn { public uint Count; public uint Dummy; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseGetAttrIn { public uint GetAttrFlags; public uint Dummy; public ulong Fh; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseMkNodIn { public uint Mode; public uint Rdev; public uint Umask; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseMkDirIn { public uint Mode; public uint Umask; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseRenameIn { public ulong NewDir; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseRename2In { public ulong NewDir; public uint Flags; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseLinkIn { public ulong OldNodeId; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseSetAttrIn
{
    public uint Valid;
    public uint Padding;
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseOpenIn { public uint Flags; public uint OpenFlags; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseCreateIn { public uint Flags; public uint Mode; public uint Umask; public uint OpenFlags; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseOpenOut { public ulong Fh; public uint OpenFlags; public int BackingId; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseReleaseIn { public ulong Fh; public uint Flags; public uint ReleaseFlags; public ulong LockOwner; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseFlushIn { public ulong Fh; public uint Unused; public uint Padding; public ulong LockOwner; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseWriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseWriteOut { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseStatFsOut { public FuseKStatFs St; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseFsyncIn { public ulong Fh; public uint FsyncFlags; public uint Padding; }

/// <summary>16 bytes with SETXATTR_EXT; only the first 8 (size, flags) otherwise.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseSetXAttrIn { public uint Size; public uint Flags; public uint SetXAttrFlags; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseGetXAttrIn { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseGetXAttrOut { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseLkIn { public ulong Fh; public ulong Owner; public FuseFileLock Lk; public uint LkFlags; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseLkOut { public FuseFileLock Lk; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseAccessIn { public uint Mask; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public uint MaxStackDepth;
    public ushort RequestTimeout;
    public fixed ushort Unused[11];
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseInterruptIn { public ulong Unique; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseBmapIn { public ulong Block; public uint BlockSize; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseBmapOut { public ulong Block; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseIoctlIn { public ulong Fh; public uint Flags; public uint Cmd; public ulong Arg; public uint InSize; public uint OutSize; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseIoctlOut { public int Result; public uint Flags; public uint InIovs; public uint OutIovs; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FusePollIn { public ulong Fh; public ulong Kh; public uint Flags; public uint Events; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FusePollOut { public uint Revents; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyPollWakeupOut { public ulong Kh; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseFallocateIn { public ulong Fh; public ulong Offset; public ulong Length; public uint Mode; public uint Padding; }

/// <summary>Fixed part of a directory record; the name (no NUL) follows at offset 24, padded to 8.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseDirent { public ulong Ino; public ulong Off; public uint NameLen; public uint Type; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseDirentPlus { public FuseEntryOut EntryOut; public FuseDirent Dirent; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyInvalInodeOut { public ulong Ino; public long Off; public long Len; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyInvalEntryOut { public ulong Parent; public uint NameLen; public uint Flags; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyDeleteOut { public ulong Parent; public ulong Child; public uint NameLen; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyStoreOut { public ulong NodeId; public ulong Offset; public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyRetrieveOut { public ulong NotifyUnique; public ulong NodeId; public ulong Offset; public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseNotifyRetrieveIn { public ulong Dummy1; public ulong Offset; public uint Size; public uint Dummy2; public ulong Dummy3; public ulong Dummy4; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseLseekIn { public ulong Fh; public ulong Offset; public uint Whence; public uint Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseLseekOut { public ulong Offset; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseCopyFileRangeIn
{
    public ulong FhIn;
    public ulong OffIn;
    public ulong NodeIdOut;
    public ulong FhOut;
    public ulong OffOut;
    public ulong Len;
    public ulong Flags;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseCopyFileRangeOut { public ulong BytesCopied; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseSyncFsIn { public ulong Padding; }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FuseBackingMap { public int Fd; public uint Flags; public ulong Padding; }
