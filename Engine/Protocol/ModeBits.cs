namespace FuseActors.Engine.Protocol;

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

    /// <summary>
    /// <paramref name="mode"/> without the set-id bits that the kernel's FUSE client removes when a caller without
    /// CAP_FSETID writes or truncates a regular file (fuse_setattr): set-user-id always, set-group-id only with group
    /// execute. (Local filesystems also drop a set-group-id without group execute when the caller is not in the
    /// file's group; FUSE's own write path keeps it, and so does this.)
    /// </summary>
    public static uint WithoutSetIdOnWrite(uint mode) =>
        (mode & (SetGid | 0x8)) == (SetGid | 0x8) ? mode & ~(SetUid | SetGid) : mode & ~SetUid;

    /// <summary>The DT_* value readdir reports for a mode.</summary>
    public static uint DirentType(uint mode) => (mode & TypeMask) >> 12;
}
