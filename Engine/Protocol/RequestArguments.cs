namespace FuseActors.Engine.Protocol;

// The arguments of each kernel request, as RequestParser reads them: one record per operation, after the
// fuse_in_header (which the parser hands over separately). Field names follow the kernel struct each one
// is read from (fuse_setattr_in, fuse_open_in, ...). Entry names are FileName (their exact bytes), symlink targets and xattr names byte arrays (they may hold '/'), never decoded text; everything else is
// copied out of the read buffer, except WriteArgs.Data, which points into it.

/// <summary>FUSE_LOOKUP: the name to look up in the directory <c>nodeid</c>.</summary>
public readonly record struct LookupArgs
{
    public FileName Name { get; init; }
}

/// <summary>FUSE_FORGET and FUSE_BATCH_FORGET (fuse_forget_one entries; FORGET's one item names the header's node).</summary>
public readonly record struct ForgetArgs
{
    public FuseForgetOne[] Items { get; init; }
    public int Count { get; init; }
}

/// <summary>FUSE_GETATTR (fuse_getattr_in): <see cref="Fh"/> is set when FUSE_GETATTR_FH was (fstat).</summary>
public readonly record struct GetAttrArgs
{
    public ulong? Fh { get; init; }
}

/// <summary>FUSE_SETATTR (fuse_setattr_in). Only the fields named in <see cref="Valid"/> are meaningful.</summary>
public readonly record struct SetAttrArgs
{
    public SetAttrValid Valid { get; init; }
    /// <summary>The open file, when <see cref="SetAttrValid.Fh"/> is set.</summary>
    public ulong? Fh { get; init; }
    public ulong Size { get; init; }
    public ulong LockOwner { get; init; }
    public ulong Atime { get; init; }
    public ulong Mtime { get; init; }
    public ulong Ctime { get; init; }
    public uint AtimeNsec { get; init; }
    public uint MtimeNsec { get; init; }
    public uint CtimeNsec { get; init; }
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
}

/// <summary>FUSE_MKNOD (fuse_mknod_in + name).</summary>
public readonly record struct MkNodArgs
{
    public FileName Name { get; init; }
    public uint Mode { get; init; }
    public uint Rdev { get; init; }
    public uint Umask { get; init; }
}

/// <summary>FUSE_MKDIR (fuse_mkdir_in + name).</summary>
public readonly record struct MkDirArgs
{
    public FileName Name { get; init; }
    public uint Mode { get; init; }
    public uint Umask { get; init; }
}

/// <summary>FUSE_SYMLINK: the new name, then the link's target.</summary>
public readonly record struct SymlinkArgs
{
    public FileName Name { get; init; }
    public byte[] Target { get; init; }
}

/// <summary>FUSE_UNLINK: the name to remove.</summary>
public readonly record struct UnlinkArgs
{
    public FileName Name { get; init; }
}

/// <summary>FUSE_RMDIR: the directory name to remove.</summary>
public readonly record struct RmDirArgs
{
    public FileName Name { get; init; }
}

/// <summary>FUSE_RENAME (fuse_rename_in) and FUSE_RENAME2 (fuse_rename2_in, with <see cref="Flags"/>).</summary>
public readonly record struct RenameArgs
{
    public FileName Name { get; init; }
    public ulong NewDir { get; init; }
    public FileName NewName { get; init; }
    public RenameFlags Flags { get; init; }
}

/// <summary>FUSE_LINK (fuse_link_in + new name).</summary>
public readonly record struct LinkArgs
{
    public ulong OldNodeId { get; init; }
    public FileName NewName { get; init; }
}

/// <summary>FUSE_OPEN and FUSE_OPENDIR (fuse_open_in).</summary>
public readonly record struct OpenArgs
{
    public OpenFlags Flags { get; init; }
    public KernelOpenFlags KernelOpenFlags { get; init; }
    public bool IsDirectory { get; init; }
}

/// <summary>FUSE_CREATE (fuse_create_in + name).</summary>
public readonly record struct CreateArgs
{
    public FileName Name { get; init; }
    public OpenFlags Flags { get; init; }
    public uint Mode { get; init; }
    public uint Umask { get; init; }
    public KernelOpenFlags KernelOpenFlags { get; init; }
    /// <summary>FUSE_TMPFILE (open with O_TMPFILE): an unnamed file in the directory; <see cref="Name"/> is empty.</summary>
    public bool IsTmpFile { get; init; }
}

/// <summary>FUSE_READ (fuse_read_in).</summary>
public readonly record struct ReadArgs
{
    public ulong Fh { get; init; }
    public ulong Offset { get; init; }
    public uint Size { get; init; }
    public ReadFlags ReadFlags { get; init; }
    public ulong LockOwner { get; init; }
    public OpenFlags Flags { get; init; }
}

/// <summary>FUSE_READDIR and FUSE_READDIRPLUS (fuse_read_in).</summary>
public readonly record struct ReadDirArgs
{
    public bool IsPlus { get; init; }
    public ulong Fh { get; init; }
    public ulong Offset { get; init; }
    public uint Size { get; init; }
}

/// <summary>FUSE_WRITE (fuse_write_in + data). <see cref="Data"/> points into the read buffer, which the parser
/// hands over with the request (tookBuffer): it stays valid until the request's owner returns that buffer.</summary>
public readonly record struct WriteArgs
{
    public ulong Fh { get; init; }
    public ulong Offset { get; init; }
    public WriteFlags WriteFlags { get; init; }
    public ulong LockOwner { get; init; }
    public OpenFlags Flags { get; init; }
    public ReadOnlyMemory<byte> Data { get; init; }
    /// <summary>fuse_write_in.size: the length of <see cref="Data"/>.</summary>
    public uint Size => (uint)Data.Length;
}

/// <summary>FUSE_RELEASE and FUSE_RELEASEDIR (fuse_release_in).</summary>
public readonly record struct ReleaseArgs
{
    public bool IsDirectory { get; init; }
    public ulong Fh { get; init; }
    public OpenFlags Flags { get; init; }
    public ReleaseFlags ReleaseFlags { get; init; }
    public ulong LockOwner { get; init; }
}

/// <summary>FUSE_FSYNC and FUSE_FSYNCDIR (fuse_fsync_in).</summary>
public readonly record struct FsyncArgs
{
    public bool IsDirectory { get; init; }
    public ulong Fh { get; init; }
    public FsyncFlags FsyncFlags { get; init; }
    public bool DataSync => (FsyncFlags & FsyncFlags.DataSync) != 0;
}

/// <summary>FUSE_FLUSH (fuse_flush_in).</summary>
public readonly record struct FlushArgs
{
    public ulong Fh { get; init; }
    public ulong LockOwner { get; init; }
}

/// <summary>FUSE_SETXATTR (fuse_setxattr_in, 8 bytes unless FUSE_SETXATTR_EXT was negotiated, + name + value).</summary>
public readonly record struct SetXAttrArgs
{
    public byte[] Name { get; init; }
    public byte[] Value { get; init; }
    public XAttrFlags Flags { get; init; }
    /// <summary>fuse_setxattr_in.setxattr_flags (FUSE_SETXATTR_ACL_KILL_SGID); 0 without FUSE_SETXATTR_EXT.</summary>
    public uint SetXAttrFlags { get; init; }
}

/// <summary>FUSE_GETXATTR (fuse_getxattr_in + name). <see cref="Size"/> 0 asks for the value's length.</summary>
public readonly record struct GetXAttrArgs
{
    public byte[] Name { get; init; }
    public uint Size { get; init; }
}

/// <summary>FUSE_LISTXATTR (fuse_getxattr_in). <see cref="Size"/> 0 asks for the list's length.</summary>
public readonly record struct ListXAttrArgs
{
    public uint Size { get; init; }
}

/// <summary>FUSE_REMOVEXATTR: the attribute name.</summary>
public readonly record struct RemoveXAttrArgs
{
    public byte[] Name { get; init; }
}

/// <summary>FUSE_ACCESS (fuse_access_in): R_OK 4, W_OK 2, X_OK 1, 0 for existence.</summary>
public readonly record struct AccessArgs
{
    public uint Mask { get; init; }
}

/// <summary>FUSE_INIT (fuse_init_in; kernels before 7.36 send only its first 16 bytes). <see cref="Flags"/>
/// already includes flags2 shifted up when FUSE_INIT_EXT is set.</summary>
public readonly record struct InitArgs
{
    public uint Major { get; init; }
    public uint Minor { get; init; }
    public uint MaxReadahead { get; init; }
    public InitFlags Flags { get; init; }
}

/// <summary>FUSE_INTERRUPT (fuse_interrupt_in): the unique id of the interrupted request.</summary>
public readonly record struct InterruptArgs
{
    public ulong TargetUnique { get; init; }
}

/// <summary>FUSE_FALLOCATE (fuse_fallocate_in).</summary>
public readonly record struct FallocateArgs
{
    public ulong Fh { get; init; }
    public ulong Offset { get; init; }
    public ulong Length { get; init; }
    public FallocateFlags Mode { get; init; }
}

/// <summary>FUSE_LSEEK (fuse_lseek_in): SEEK_DATA (3) or SEEK_HOLE (4).</summary>
public readonly record struct LseekArgs
{
    public ulong Fh { get; init; }
    public ulong Offset { get; init; }
    public uint Whence { get; init; }
}

/// <summary>FUSE_COPY_FILE_RANGE and FUSE_COPY_FILE_RANGE_64 (fuse_copy_file_range_in).</summary>
public readonly record struct CopyFileRangeArgs
{
    public bool Is64 { get; init; }
    public ulong FhIn { get; init; }
    public ulong OffsetIn { get; init; }
    public ulong NodeIdOut { get; init; }
    public ulong FhOut { get; init; }
    public ulong OffsetOut { get; init; }
    public ulong Length { get; init; }
    public ulong Flags { get; init; }
}

/// <summary>FUSE_GETLK, FUSE_SETLK and FUSE_SETLKW (fuse_lk_in). <see cref="Lock"/> is the kernel's fuse_file_lock as sent:
/// its end is OFFSET_MAX (<see cref="FuseConstants.OffsetMax"/>) for "to the end of the file", its type F_RDLCK 0,
/// F_WRLCK 1 or F_UNLCK 2.</summary>
public readonly record struct LockArgs
{
    public ulong Fh { get; init; }
    /// <summary>fuse_lk_in.owner: the lock owner (a process's files for POSIX locks, the open file for flock).</summary>
    public ulong Owner { get; init; }
    public FuseFileLock Lock { get; init; }
    /// <summary>fuse_lk_in.lk_flags (FUSE_LK_FLOCK).</summary>
    public uint LkFlags { get; init; }
    /// <summary>FUSE_SETLKW: the caller waits until the lock can be taken.</summary>
    public bool Wait { get; init; }
    public bool IsFlock => (LkFlags & FuseConstants.LkFlock) != 0;
}

/// <summary>FUSE_NOTIFY_REPLY (fuse_notify_retrieve_in + data): the answer to a RETRIEVE notification.</summary>
public readonly record struct NotifyReplyArgs
{
    public ulong Offset { get; init; }
    public byte[] Data { get; init; }
}

/// <summary>What <see cref="RequestParser"/> builds from each request: one method per operation (called with the
/// header and its arguments), plus the two outcomes that have none. Implement it with a struct so the JIT
/// specialises the parser for it and the calls are direct.</summary>
public interface IRequestFactory<out T>
{
    T Lookup(in FuseInHeader h, in LookupArgs a);
    T Forget(in FuseInHeader h, in ForgetArgs a);
    T GetAttr(in FuseInHeader h, in GetAttrArgs a);
    T SetAttr(in FuseInHeader h, in SetAttrArgs a);
    T ReadLink(in FuseInHeader h);
    T Symlink(in FuseInHeader h, in SymlinkArgs a);
    T MkNod(in FuseInHeader h, in MkNodArgs a);
    T MkDir(in FuseInHeader h, in MkDirArgs a);
    T Unlink(in FuseInHeader h, in UnlinkArgs a);
    T RmDir(in FuseInHeader h, in RmDirArgs a);
    T Rename(in FuseInHeader h, in RenameArgs a);
    T Link(in FuseInHeader h, in LinkArgs a);
    T Open(in FuseInHeader h, in OpenArgs a);
    T Read(in FuseInHeader h, in ReadArgs a);
    T ReadDir(in FuseInHeader h, in ReadDirArgs a);
    T Write(in FuseInHeader h, in WriteArgs a);
    T StatFs(in FuseInHeader h);
    T Release(in FuseInHeader h, in ReleaseArgs a);
    T Fsync(in FuseInHeader h, in FsyncArgs a);
    T SetXAttr(in FuseInHeader h, in SetXAttrArgs a);
    T GetXAttr(in FuseInHeader h, in GetXAttrArgs a);
    T ListXAttr(in FuseInHeader h, in ListXAttrArgs a);
    T RemoveXAttr(in FuseInHeader h, in RemoveXAttrArgs a);
    T Flush(in FuseInHeader h, in FlushArgs a);
    T Init(in FuseInHeader h, in InitArgs a);
    T Access(in FuseInHeader h, in AccessArgs a);
    T Create(in FuseInHeader h, in CreateArgs a);
    T Interrupt(in FuseInHeader h, in InterruptArgs a);
    T Destroy(in FuseInHeader h);
    T Fallocate(in FuseInHeader h, in FallocateArgs a);
    T Lseek(in FuseInHeader h, in LseekArgs a);
    T CopyFileRange(in FuseInHeader h, in CopyFileRangeArgs a);
    T NotifyReply(in FuseInHeader h, in NotifyReplyArgs a);
    /// <summary>FUSE_GETLK.</summary>
    T GetLock(in FuseInHeader h, in LockArgs a);
    /// <summary>FUSE_SETLK and FUSE_SETLKW (<see cref="LockArgs.Wait"/>).</summary>
    T SetLock(in FuseInHeader h, in LockArgs a);
    /// <summary>A request this engine cannot read: <paramref name="h"/> is default when even the header is short.</summary>
    T Malformed(in FuseInHeader h, string reason);
    /// <summary>An opcode this engine does not serve (answered ENOSYS).</summary>
    T Unsupported(in FuseInHeader h);
}
