using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>POSIX numbers the caller API needs (Linux x86-64 / arm64 values).</summary>
public static class Posix
{
    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFIFO = 0x1000;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_DIRECTORY = 0x10000;

    public const uint DT_UNKNOWN = 0;
    public const uint DT_DIR = 4;
    public const uint DT_REG = 8;
    public const uint DT_LNK = 10;

    public const int SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;

    public const uint R_OK = 4, W_OK = 2, X_OK = 1, F_OK = 0;

    public static bool IsDir(uint mode) => ModeBits.IsDirectory(mode);
    public static bool IsReg(uint mode) => ModeBits.IsRegular(mode);

    /// <summary>A file type the kernel accepts in fuse_attr.mode (anything else gives EIO).</summary>
    public static bool IsValidFileType(uint mode) => ModeBits.IsValidType(mode);

    /// <summary>The DT_* value for a mode.</summary>
    public static uint DirentType(uint mode) => ModeBits.DirentType(mode);
}
