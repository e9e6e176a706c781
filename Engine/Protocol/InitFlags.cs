namespace FuseActors.Engine.Protocol;

/// <summary>INIT capability flags: bits 0–31 are <c>flags</c>, bits 32–63 are <c>flags2</c> (read only with <see cref="InitExt"/>).</summary>
[Flags]
public enum InitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    FileOps = 1UL << 2,
    AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    SpliceWrite = 1UL << 7,
    SpliceMove = 1UL << 8,
    SpliceRead = 1UL << 9,
    FlockLocks = 1UL << 10,
    HasIoctlDir = 1UL << 11,
    AutoInvalData = 1UL << 12,
    DoReadDirPlus = 1UL << 13,
    ReadDirPlusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    NoOpenSupport = 1UL << 17,
    ParallelDirOps = 1UL << 18,
    HandleKillPriv = 1UL << 19,
    PosixAcl = 1UL << 20,
    AbortError = 1UL << 21,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    NoOpenDirSupport = 1UL << 24,
    ExplicitInvalData = 1UL << 25,
    MapAlignment = 1UL << 26,
    Submounts = 1UL << 27,
    HandleKillPrivV2 = 1UL << 28,
    SetXAttrExt = 1UL << 29,
    InitExt = 1UL << 30,
    InitReserved = 1UL << 31,
    SecurityCtx = 1UL << 32,
    HasInodeDax = 1UL << 33,
    CreateSuppGroup = 1UL << 34,
    HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36,
    Passthrough = 1UL << 37,
    NoExportSupport = 1UL << 38,
    HasResend = 1UL << 39,
    AllowIdmap = 1UL << 40,
    OverIoUring = 1UL << 41,
    RequestTimeout = 1UL << 42,
}

/// <summary>Protocol constants from linux/fuse.h.</summary>
public static class FuseConstants
{
    public const uint KernelVersion = 7;
    /// <summary>The newest minor this engine speaks (Linux 6.18).</summary>
    public const uint KernelMinorVersion = 45;
    /// <summary>Oldest kernel minor we accept: 7.31 brought everything we rely on (MAX_PAGES, COPY_FILE_RANGE, ...).</summary>
    public const uint MinimumKernelMinor = 31;
    public const ulong RootId = 1;
    public const int MinReadBuffer = 8192;
    public const int BufferHeaderSize = 4096;
    public const int InHeaderSize = 40;
    public const int OutHeaderSize = 16;
    public const int NameMax = 1024;
    /// <summary>FUSE_COMPAT_SETXATTR_IN_SIZE: fuse_setxattr_in without FUSE_SETXATTR_EXT (size, flags).</summary>
    public const int CompatSetXAttrInSize = 8;
    /// <summary>fuse_init_in as kernels before 7.36 send it (major, minor, max_readahead, flags).</summary>
    public const int CompatInitInSize = 16;
    public const ulong InterruptBit = 1;
    public const ulong ResendBit = 1UL << 63;
    public const int PageSize = 4096;

    // FATTR_* (fuse_setattr_in.valid)
    public const uint FattrMode = 1 << 0;
    public const uint FattrUid = 1 << 1;
    public const uint FattrGid = 1 << 2;
    public const uint FattrSize = 1 << 3;
    public const uint FattrAtime = 1 << 4;
    public const uint FattrMtime = 1 << 5;
    public const uint FattrFh = 1 << 6;
    public const uint FattrAtimeNow = 1 << 7;
    public const uint FattrMtimeNow = 1 << 8;
    public const uint FattrLockOwner = 1 << 9;
    public const uint FattrCtime = 1 << 10;
    public const uint FattrKillSuidGid = 1 << 11;

    // FOPEN_* (fuse_open_out.open_flags)
    public const uint FopenDirectIo = 1 << 0;
    public const uint FopenKeepCache = 1 << 1;
    public const uint FopenNonSeekable = 1 << 2;
    public const uint FopenCacheDir = 1 << 3;
    public const uint FopenStream = 1 << 4;
    public const uint FopenNoFlush = 1 << 5;
    public const uint FopenParallelDirectWrites = 1 << 6;
    public const uint FopenPassthrough = 1 << 7;

    public const uint GetAttrFh = 1;
    public const uint FsyncFdataSync = 1;
    public const uint RenameNoReplace = 1;
    public const uint RenameExchange = 2;
    public const uint RenameWhiteout = 4;

    /// <summary>FUSE_LK_FLOCK (fuse_lk_in.lk_flags): the lock is a flock(2), emulated with a whole-file POSIX lock.</summary>
    public const uint LkFlock = 1;
    /// <summary>The kernel's OFFSET_MAX (LLONG_MAX): a lock's end meaning "to the end of the file" on the wire.</summary>
    public const ulong OffsetMax = long.MaxValue;

    public const uint XattrCreate = 1;
    public const uint XattrReplace = 2;

    // ioctls on /dev/fuse (magic 229)
    public const uint DevIocClone = 0x8004E500;
    public const uint DevIocBackingOpen = 0x4010E501;
    public const uint DevIocBackingClose = 0x4004E502;
}
