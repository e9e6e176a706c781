using System.Runtime.InteropServices;

namespace FuseActors.Engine.Protocol;

/// <summary>
/// The operation table: one <see cref="OperationInfo"/> per <see cref="Opcode"/> (protocol 7.45), the single source for
/// names, minimum request sizes, reply shapes, "never answered" and ENOSYS stickiness — used by the engine's request
/// decoder and by the kernel side (VirtualDevice, VfsClient) alike.
/// <para>
/// Minimum body sizes follow one rule (see <see cref="OperationInfo.MinBodySize"/>): request struct + 2 bytes per
/// required name. Two opcodes send a struct longer than the minimum: INIT (64-byte <c>fuse_init_in</c> since 7.36;
/// the minimum is its major and minor, 8 bytes, all an INIT of any version carries and all the server needs to answer
/// with its own version) and SETXATTR (<c>fuse_setxattr_in</c> is 16 bytes only with SETXATTR_EXT; the minimum is
/// the 8-byte form, <c>FUSE_COMPAT_SETXATTR_IN_SIZE</c>).
/// </para>
/// </summary>
public static class Operations
{
    /// <summary>A NUL-terminated name: at least one byte and its NUL.</summary>
    private const int Name = 2;

    private static readonly int EntryOut = Wire.SizeOf<FuseEntryOut>();      // 128
    private static readonly int OpenOut = Wire.SizeOf<FuseOpenOut>();        // 16
    private static readonly int ReadIn = Wire.SizeOf<FuseReadIn>();          // 40
    private static readonly int ReleaseIn = Wire.SizeOf<FuseReleaseIn>();    // 24
    private static readonly int FsyncIn = Wire.SizeOf<FuseFsyncIn>();        // 16
    private static readonly int LkIn = Wire.SizeOf<FuseLkIn>();              // 48
    private static readonly int GetXAttrIn = Wire.SizeOf<FuseGetXAttrIn>();  // 8
    private static readonly int CopyIn = Wire.SizeOf<FuseCopyFileRangeIn>(); // 56

    /// <summary>fuse_statx_in (7.39), fuse_statx_out, fuse_setupmapping_in and fuse_removemapping_in: no C# mirror
    /// yet (nothing reads them); the sizes are checked against linux/fuse.h by the table tests.</summary>
    private const int StatxIn = 24, StatxOut = 288, SetupMappingIn = 40, RemoveMappingIn = 4;

    /// <summary>Indexed by opcode value; a default row (null <see cref="OperationInfo.Name"/>) is an unassigned opcode.</summary>
    private static readonly OperationInfo[] Table = BuildTable(
    [
        Row(Opcode.Lookup, "LOOKUP", Name, ReplyKind.Fixed, EntryOut),
        Row(Opcode.Forget, "FORGET", Wire.SizeOf<FuseForgetIn>(), ReplyKind.None),
        Row(Opcode.GetAttr, "GETATTR", Wire.SizeOf<FuseGetAttrIn>(), ReplyKind.Fixed, Wire.SizeOf<FuseAttrOut>()),
        Row(Opcode.SetAttr, "SETATTR", Wire.SizeOf<FuseSetAttrIn>(), ReplyKind.Fixed, Wire.SizeOf<FuseAttrOut>()),
        Row(Opcode.ReadLink, "READLINK", 0, ReplyKind.UpTo, ReplyShape.ReadLinkMax),
        Row(Opcode.Symlink, "SYMLINK", Name + Name, ReplyKind.Fixed, EntryOut),              // link name, then target
        Row(Opcode.MkNod, "MKNOD", Wire.SizeOf<FuseMkNodIn>() + Name, ReplyKind.Fixed, EntryOut),
        Row(Opcode.MkDir, "MKDIR", Wire.SizeOf<FuseMkDirIn>() + Name, ReplyKind.Fixed, EntryOut),
        Row(Opcode.Unlink, "UNLINK", Name, ReplyKind.Empty),
        Row(Opcode.RmDir, "RMDIR", Name, ReplyKind.Empty),
        Row(Opcode.Rename, "RENAME", Wire.SizeOf<FuseRenameIn>() + Name + Name, ReplyKind.Empty),
        Row(Opcode.Link, "LINK", Wire.SizeOf<FuseLinkIn>() + Name, ReplyKind.Fixed, EntryOut, sticky: true),
        Row(Opcode.Open, "OPEN", Wire.SizeOf<FuseOpenIn>(), ReplyKind.Fixed, OpenOut, sticky: true),
        Row(Opcode.Read, "READ", ReadIn, ReplyKind.UpToReadSize),
        Row(Opcode.Write, "WRITE", Wire.SizeOf<FuseWriteIn>(), ReplyKind.Fixed, Wire.SizeOf<FuseWriteOut>()),
        Row(Opcode.StatFs, "STATFS", 0, ReplyKind.Fixed, Wire.SizeOf<FuseStatFsOut>()),
        Row(Opcode.Release, "RELEASE", ReleaseIn, ReplyKind.Empty),
        Row(Opcode.Fsync, "FSYNC", FsyncIn, ReplyKind.Empty, sticky: true),
        Row(Opcode.SetXAttr, "SETXATTR", 8 + Name, ReplyKind.Empty, sticky: true),            // 8-byte form, name, value
        Row(Opcode.GetXAttr, "GETXATTR", GetXAttrIn + Name, ReplyKind.XAttrSizeProbe, sticky: true),
        Row(Opcode.ListXAttr, "LISTXATTR", GetXAttrIn, ReplyKind.XAttrSizeProbe, sticky: true),
        Row(Opcode.RemoveXAttr, "REMOVEXATTR", Name, ReplyKind.Empty, sticky: true),
        Row(Opcode.Flush, "FLUSH", Wire.SizeOf<FuseFlushIn>(), ReplyKind.Empty, sticky: true),
        Row(Opcode.Init, "INIT", 8, ReplyKind.UpTo, Wire.SizeOf<FuseInitOut>()),            // major, minor; shorter replies accepted
        Row(Opcode.OpenDir, "OPENDIR", Wire.SizeOf<FuseOpenIn>(), ReplyKind.Fixed, OpenOut, sticky: true),
        Row(Opcode.ReadDir, "READDIR", ReadIn, ReplyKind.UpToReadSize),
        Row(Opcode.ReleaseDir, "RELEASEDIR", ReleaseIn, ReplyKind.Empty),
        Row(Opcode.FsyncDir, "FSYNCDIR", FsyncIn, ReplyKind.Empty, sticky: true),
        Row(Opcode.GetLk, "GETLK", LkIn, ReplyKind.Fixed, Wire.SizeOf<FuseLkOut>()),
        Row(Opcode.SetLk, "SETLK", LkIn, ReplyKind.Empty),
        Row(Opcode.SetLkW, "SETLKW", LkIn, ReplyKind.Empty),
        Row(Opcode.Access, "ACCESS", Wire.SizeOf<FuseAccessIn>(), ReplyKind.Empty, sticky: true),
        Row(Opcode.Create, "CREATE", Wire.SizeOf<FuseCreateIn>() + Name, ReplyKind.Fixed, EntryOut + OpenOut, sticky: true),
        Row(Opcode.Interrupt, "INTERRUPT", Wire.SizeOf<FuseInterruptIn>(), ReplyKind.None, sticky: true),
        Row(Opcode.Bmap, "BMAP", Wire.SizeOf<FuseBmapIn>(), ReplyKind.Fixed, Wire.SizeOf<FuseBmapOut>(), sticky: true),
        Row(Opcode.Destroy, "DESTROY", 0, ReplyKind.Empty),
        Row(Opcode.Ioctl, "IOCTL", Wire.SizeOf<FuseIoctlIn>(), ReplyKind.IoctlOut),
        Row(Opcode.Poll, "POLL", Wire.SizeOf<FusePollIn>(), ReplyKind.Fixed, Wire.SizeOf<FusePollOut>(), sticky: true),
        Row(Opcode.NotifyReply, "NOTIFY_REPLY", Wire.SizeOf<FuseNotifyRetrieveIn>(), ReplyKind.None),
        Row(Opcode.BatchForget, "BATCH_FORGET", Wire.SizeOf<FuseBatchForgetIn>(), ReplyKind.None), // + count × fuse_forget_one
        Row(Opcode.Fallocate, "FALLOCATE", Wire.SizeOf<FuseFallocateIn>(), ReplyKind.Empty, sticky: true),
        Row(Opcode.ReadDirPlus, "READDIRPLUS", ReadIn, ReplyKind.UpToReadSize),
        Row(Opcode.Rename2, "RENAME2", Wire.SizeOf<FuseRename2In>() + Name + Name, ReplyKind.Empty, sticky: true),
        Row(Opcode.Lseek, "LSEEK", Wire.SizeOf<FuseLseekIn>(), ReplyKind.Fixed, Wire.SizeOf<FuseLseekOut>(), sticky: true),
        Row(Opcode.CopyFileRange, "COPY_FILE_RANGE", CopyIn, ReplyKind.Fixed, Wire.SizeOf<FuseWriteOut>(), sticky: true),
        Row(Opcode.SetupMapping, "SETUPMAPPING", SetupMappingIn, ReplyKind.Empty),
        Row(Opcode.RemoveMapping, "REMOVEMAPPING", RemoveMappingIn, ReplyKind.Empty),      // + n × fuse_removemapping_one
        Row(Opcode.SyncFs, "SYNCFS", Wire.SizeOf<FuseSyncFsIn>(), ReplyKind.Empty, sticky: true),
        Row(Opcode.TmpFile, "TMPFILE", Wire.SizeOf<FuseCreateIn>() + Name, ReplyKind.Fixed, EntryOut + OpenOut, sticky: true),
        Row(Opcode.Statx, "STATX", StatxIn, ReplyKind.Fixed, StatxOut, sticky: true),
        Row(Opcode.CopyFileRange64, "COPY_FILE_RANGE_64", CopyIn, ReplyKind.Fixed, Wire.SizeOf<FuseCopyFileRangeOut>(), sticky: true),
    ]);

    // The minimum body sizes alone, for the parser's check on every request (no row copied, no call).
    private static readonly int[] MinBodySizes = BuildMinBodySizes();

    private static int[] BuildMinBodySizes()
    {
        var sizes = new int[Table.Length];
        for (int i = 0; i < sizes.Length; i++) sizes[i] = Table[i].Name is null ? 0 : Table[i].MinBodySize;
        return sizes;
    }

    /// <summary>The smallest body the kernel sends for <paramref name="opcode"/> (0 for an opcode the table does not know).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int MinBodySize(Opcode opcode) => (uint)opcode < (uint)MinBodySizes.Length ? MinBodySizes[(int)opcode] : 0;

    /// <summary>The table's row for <paramref name="opcode"/>; false for an unassigned or unknown opcode.</summary>
    public static bool TryGet(Opcode opcode, out OperationInfo info)
    {
        uint i = (uint)opcode;
        if (i < (uint)Table.Length && Table[i].Name is not null) { info = Table[i]; return true; }
        info = default;
        return false;
    }

    /// <summary>The table's row for <paramref name="opcode"/>. An opcode the table does not know (CUSE_INIT, a newer
    /// kernel's) gets a row named "OPCODE_n" with no minimum, any reply, not sticky: a server answers it ENOSYS.</summary>
    public static OperationInfo For(Opcode opcode) =>
        TryGet(opcode, out var info) ? info : new OperationInfo(opcode, $"OPCODE_{(uint)opcode}", 0, ReplyKind.Any, 0, false);

    /// <summary>Every row, in opcode order.</summary>
    public static IEnumerable<OperationInfo> All
    {
        get
        {
            foreach (var row in Table)
                if (row.Name is not null) yield return row;
        }
    }

    /// <summary>True when an <paramref name="error"/> reply to <paramref name="opcode"/> switches it off for the
    /// connection: ENOSYS to an ENOSYS-sticky operation.</summary>
    public static bool SwitchesOff(Opcode opcode, Errno error) => error == Errno.ENOSYS && For(opcode).EnosysSticky;

    /// <summary>
    /// The expected successful reply to a request, from its opcode and — for READ, READDIR(PLUS), the xattr size probe
    /// and IOCTL — its body. A body too short to hold the size field is taken as size 0.
    /// </summary>
    public static ReplyShape ReplyShapeFor(Opcode opcode, ReadOnlySpan<byte> body)
    {
        if (!TryGet(opcode, out var op)) return ReplyShape.Any;
        switch (op.Reply)
        {
            case ReplyKind.None:
                return ReplyShape.None;
            case ReplyKind.Empty:
                return ReplyShape.Empty;
            case ReplyKind.Fixed:
                return ReplyShape.Exactly(op.ReplySize);
            case ReplyKind.UpTo:
                return ReplyShape.UpTo(op.ReplySize);
            case ReplyKind.UpToReadSize:
            {
                uint size = body.Length >= ReadIn ? MemoryMarshal.Read<FuseReadIn>(body).Size : 0;
                return ReplyShape.UpTo((int)Math.Min(size, ReplyShape.MaxVariable));
            }
            case ReplyKind.XAttrSizeProbe:
            {
                uint size = body.Length >= GetXAttrIn ? MemoryMarshal.Read<FuseGetXAttrIn>(body).Size : 0;
                return size == 0
                    ? ReplyShape.Exactly(Wire.SizeOf<FuseGetXAttrOut>())
                    : ReplyShape.UpTo((int)Math.Min(size, ReplyShape.MaxVariable));
            }
            case ReplyKind.IoctlOut:
            {
                uint outSize = body.Length >= Wire.SizeOf<FuseIoctlIn>() ? MemoryMarshal.Read<FuseIoctlIn>(body).OutSize : 0;
                return ReplyShape.FixedThenUpTo(Wire.SizeOf<FuseIoctlOut>(), (int)Math.Min(outSize, ReplyShape.MaxVariable));
            }
            default:
                return ReplyShape.Any;
        }
    }

    private static OperationInfo Row(Opcode opcode, string name, int minBody, ReplyKind reply, int replySize = 0, bool sticky = false) =>
        new(opcode, name, minBody, reply, replySize, sticky);

    private static OperationInfo[] BuildTable(OperationInfo[] rows)
    {
        uint max = 0;
        foreach (var r in rows) max = Math.Max(max, (uint)r.Opcode);
        var table = new OperationInfo[max + 1];
        foreach (var r in rows)
        {
            if (table[(uint)r.Opcode].Name is not null) throw new InvalidOperationException($"opcode {r.Opcode} listed twice");
            table[(uint)r.Opcode] = r;
        }
        return table;
    }
}
