using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Diagnostics;

/// <summary>
/// A request's arguments as text for the debug log (names, offsets and sizes, flags, modes). Called only while debug
/// logging is on: it allocates, the request path with debug off never calls it.
/// </summary>
public static class RequestDescription
{
    /// <summary>The caller and the arguments, e.g. <c>pid=12 uid=0 gid=0 fh=3 offset=0 size=4096 flags=ReadOnly</c>.</summary>
    public static string Describe(FsRequest r)
    {
        var sb = new StringBuilder(96);
        sb.Append("pid=").Append(r.Pid).Append(" uid=").Append(r.Uid).Append(" gid=").Append(r.Gid);
        switch (r)
        {
            case LookupRequest x: Name(sb, x.Name); break;
            case MkNodRequest x: Name(sb, x.Name).Append(" mode=").Append(Octal(x.Mode)).Append(" rdev=").Append(x.Rdev).Append(" umask=").Append(Octal(x.Umask)); break;
            case MkDirRequest x: Name(sb, x.Name).Append(" mode=").Append(Octal(x.Mode)).Append(" umask=").Append(Octal(x.Umask)); break;
            case SymlinkRequest x: Name(sb, x.Name).Append(" target=").Append(FileName.Display(x.Target)); break;
            case LinkRequest x: sb.Append(" oldnode=").Append(x.OldNodeId).Append(" newname=").Append(x.NewName); break;
            case UnlinkRequest x: Name(sb, x.Name); break;
            case RmDirRequest x: Name(sb, x.Name); break;
            case RenameRequest x: Name(sb, x.Name).Append(" newdir=").Append(x.NewDir).Append(" newname=").Append(x.NewName).Append(" flags=").Append(Bits(x.Flags)); break;
            case CreateRequest x: Name(sb, x.Name).Append(" flags=").Append(Open(x.Flags)).Append(" mode=").Append(Octal(x.Mode)).Append(" umask=").Append(Octal(x.Umask)); break;
            case OpenRequest x: sb.Append(" flags=").Append(Open(x.Flags)).Append(" kernelflags=").Append(Bits(x.KernelOpenFlags)); break;
            case ReadRequest x: sb.Append(" fh=").Append(x.Fh).Append(" offset=").Append(x.Offset).Append(" size=").Append(x.Size).Append(" flags=").Append(Open(x.Flags)); break;
            case WriteRequest x: sb.Append(" fh=").Append(x.Fh).Append(" offset=").Append(x.Offset).Append(" size=").Append(x.Size).Append(" writeflags=").Append(Bits(x.WriteFlags)).Append(" flags=").Append(Open(x.Flags)); break;
            case ReadDirRequest x: sb.Append(" fh=").Append(x.Fh).Append(" offset=").Append(x.Offset).Append(" size=").Append(x.Size); break;
            case GetAttrRequest x: if (x.Fh is { } fh) sb.Append(" fh=").Append(fh); break;
            case SetAttrRequest x:
                sb.Append(" valid=").Append(Bits(x.Valid));
                if (x.Fh is { } sfh) sb.Append(" fh=").Append(sfh);
                if ((x.Valid & SetAttrValid.Size) != 0) sb.Append(" size=").Append(x.Size);
                if ((x.Valid & SetAttrValid.Mode) != 0) sb.Append(" mode=").Append(Octal(x.Mode));
                if ((x.Valid & SetAttrValid.Uid) != 0) sb.Append(" attruid=").Append(x.AttrUid);
                if ((x.Valid & SetAttrValid.Gid) != 0) sb.Append(" attrgid=").Append(x.AttrGid);
                break;
            case ReleaseRequest x: sb.Append(" fh=").Append(x.Fh).Append(" flags=").Append(Open(x.Flags)).Append(" releaseflags=").Append(Bits(x.ReleaseFlags)); break;
            case FsyncRequest x: sb.Append(" fh=").Append(x.Fh).Append(" fsyncflags=").Append(Bits(x.FsyncFlags)); break;
            case FlushRequest x: sb.Append(" fh=").Append(x.Fh).Append(" lockowner=").Append(x.LockOwner.ToString("x")); break;
            case SetXAttrRequest x: sb.Append(" name=").Append(FileName.Display(x.Name)).Append(" size=").Append(x.Value.Length).Append(" flags=").Append(Bits(x.Flags)); break;
            case GetXAttrRequest x: sb.Append(" name=").Append(FileName.Display(x.Name)).Append(" size=").Append(x.Size); break;
            case ListXAttrRequest x: sb.Append(" size=").Append(x.Size); break;
            case RemoveXAttrRequest x: sb.Append(" name=").Append(FileName.Display(x.Name)); break;
            case AccessRequest x: sb.Append(" mask=").Append(Octal(x.Mask)); break;
            case FallocateRequest x: sb.Append(" fh=").Append(x.Fh).Append(" offset=").Append(x.Offset).Append(" length=").Append(x.Length).Append(" mode=").Append(Bits(x.Mode)); break;
            case LseekRequest x: sb.Append(" fh=").Append(x.Fh).Append(" offset=").Append(x.Offset).Append(" whence=").Append(x.Whence); break;
            case CopyFileRangeRequest x:
                sb.Append(" fhin=").Append(x.FhIn).Append(" offin=").Append(x.OffsetIn).Append(" nodeout=").Append(x.NodeIdOut)
                  .Append(" fhout=").Append(x.FhOut).Append(" offout=").Append(x.OffsetOut).Append(" length=").Append(x.Length).Append(" flags=").Append(x.Flags);
                break;
            case GetLockRequest x: sb.Append(" fh=").Append(x.FileHandle).Append(" owner=").Append(x.Owner.ToString("x")).Append(" lock=").Append(x.Lock); break;
            case SetLockRequest x: sb.Append(" fh=").Append(x.FileHandle).Append(" owner=").Append(x.Owner.ToString("x")).Append(" lock=").Append(x.Lock).Append(x.IsFlock ? " flock" : ""); break;
            case InterruptRequest x: sb.Append(" target=").Append(x.TargetUnique); break;
            case ForgetRequest x: sb.Append(" count=").Append(x.Count); break;
            case InitRequest x: sb.Append(" kernel=").Append(x.Major).Append('.').Append(x.Minor).Append(" flags=").Append(Bits(x.Flags)); break;
        }
        return sb.ToString();
    }

    private static StringBuilder Name(StringBuilder sb, FileName name) => sb.Append(" name=").Append(name);

    private static string Bits<T>(T flags) where T : struct, Enum => flags.ToString().Replace(", ", "|");

    private static string Octal(uint v) => "0" + Convert.ToString(v, 8);

    // open(2) flags as strace spells them (Linux generic values; O_DIRECT as this machine has it), the rest in hex.
    private static readonly (uint Bit, string Name)[] OpenBits =
    [
        (0x40, "O_CREAT"), (0x80, "O_EXCL"), (0x100, "O_NOCTTY"), (0x200, "O_TRUNC"), (0x400, "O_APPEND"), (0x800, "O_NONBLOCK"),
        (0x101000, "O_SYNC"), (0x1000, "O_DSYNC"), ((uint)OpenFlagsExtensions.Direct, "O_DIRECT"), (0x8000, "O_LARGEFILE"),
        (0x10000, "O_DIRECTORY"), (0x20000, "O_NOFOLLOW"), (0x40000, "O_NOATIME"), (0x80000, "O_CLOEXEC"), (0x200000, "O_PATH"),
    ];

    /// <summary>e.g. <c>O_WRONLY|O_CREAT|O_TRUNC|O_LARGEFILE</c>.</summary>
    public static string Open(OpenFlags flags)
    {
        uint f = (uint)flags;
        var sb = new StringBuilder((f & 3) switch { 0 => "O_RDONLY", 1 => "O_WRONLY", 2 => "O_RDWR", _ => "O_ACCMODE" });
        f &= ~3u;
        foreach (var (bit, name) in OpenBits)
        {
            if (bit == 0 || (f & bit) != bit) continue;
            sb.Append('|').Append(name);
            f &= ~bit;
        }
        if (f != 0) sb.Append("|0x").Append(f.ToString("x"));
        return sb.ToString();
    }
}
