using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// What payload a successful reply to a request may carry (the kernel's <c>out_args</c> with <c>out_argvar</c>):
/// exactly <see cref="FixedSize"/> bytes, or — when the last argument is variable — anything from
/// <see cref="FixedSize"/> to <see cref="FixedSize"/> + <see cref="VariableMax"/>.
/// <see cref="ExpectsReply"/> is false for FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY.
/// </summary>
public readonly record struct ReplyShape(int FixedSize, int VariableMax, bool ExpectsReply = true)
{
    /// <summary>No reply, ever.</summary>
    public static ReplyShape None => new(0, 0, false);
    /// <summary>Header only.</summary>
    public static ReplyShape Empty => new(0, 0);
    public static ReplyShape Exactly(int size) => new(size, 0);
    /// <summary>Any length from 0 to <paramref name="max"/>.</summary>
    public static ReplyShape UpTo(int max) => new(0, Math.Max(0, max));
    /// <summary>A fixed part followed by a variable part of at most <paramref name="variableMax"/> bytes.</summary>
    public static ReplyShape FixedThenUpTo(int fixedSize, int variableMax) => new(fixedSize, Math.Max(0, variableMax));

    public bool IsVariable => VariableMax > 0;

    /// <summary>Whether a successful reply with this many payload bytes is valid.</summary>
    public bool Accepts(int payloadLength) =>
        ExpectsReply && payloadLength >= FixedSize && (long)payloadLength <= (long)FixedSize + VariableMax;

    public override string ToString() =>
        !ExpectsReply ? "no reply" : IsVariable ? $"{FixedSize}..{(long)FixedSize + VariableMax} bytes" : $"{FixedSize} bytes";

    /// <summary>READLINK replies are at most a page less one byte.</summary>
    public const int ReadLinkMax = FuseConstants.PageSize - 1;

    /// <summary>
    /// The expected reply of a request, from its opcode and (for READ, READDIR, xattrs, IOCTL) its body:
    /// the per-opcode table of today's kernel (protocol 7.45).
    /// </summary>
    public static ReplyShape For(Opcode opcode, ReadOnlySpan<byte> body)
    {
        switch (opcode)
        {
            case Opcode.Lookup:
            case Opcode.MkNod:
            case Opcode.MkDir:
            case Opcode.Symlink:
            case Opcode.Link:
                return Exactly(Size<FuseEntryOut>());                       // 128
            case Opcode.Create:
            case Opcode.TmpFile:
                return Exactly(Size<FuseEntryOut>() + Size<FuseOpenOut>()); // 144
            case Opcode.GetAttr:
            case Opcode.SetAttr:
                return Exactly(Size<FuseAttrOut>());                        // 104
            case Opcode.Open:
            case Opcode.OpenDir:
                return Exactly(Size<FuseOpenOut>());                        // 16
            case Opcode.Write:
            case Opcode.CopyFileRange:
                return Exactly(Size<FuseWriteOut>());                       // 8
            case Opcode.CopyFileRange64:
                return Exactly(Size<FuseCopyFileRangeOut>());               // 8
            case Opcode.StatFs:
                return Exactly(Size<FuseStatFsOut>());                      // 80
            case Opcode.Lseek:
                return Exactly(Size<FuseLseekOut>());                       // 8
            case Opcode.Bmap:
                return Exactly(Size<FuseBmapOut>());                        // 8
            case Opcode.Poll:
                return Exactly(Size<FusePollOut>());                        // 8
            case Opcode.GetLk:
                return Exactly(Size<FuseLkOut>());                          // 24
            case Opcode.Statx:
                return Exactly(288);                                        // fuse_statx_out
            case Opcode.Read:
            case Opcode.ReadDir:
            case Opcode.ReadDirPlus:
                return UpTo(body.Length >= Size<FuseReadIn>() ? (int)Math.Min(MemoryMarshal.Read<FuseReadIn>(body).Size, int.MaxValue - 64) : 0);
            case Opcode.ReadLink:
                return UpTo(ReadLinkMax);
            case Opcode.GetXAttr:
            case Opcode.ListXAttr:
            {
                uint size = body.Length >= Size<FuseGetXAttrIn>() ? MemoryMarshal.Read<FuseGetXAttrIn>(body).Size : 0;
                return size == 0 ? Exactly(Size<FuseGetXAttrOut>()) : UpTo((int)Math.Min(size, int.MaxValue - 64));
            }
            case Opcode.Init:
                return UpTo(Size<FuseInitOut>());                           // 64, shorter accepted
            case Opcode.Ioctl:
            {
                uint outSize = body.Length >= Size<FuseIoctlIn>() ? MemoryMarshal.Read<FuseIoctlIn>(body).OutSize : 0;
                return FixedThenUpTo(Size<FuseIoctlOut>(), (int)Math.Min(outSize, int.MaxValue - 64));
            }
            case Opcode.Forget:
            case Opcode.BatchForget:
            case Opcode.Interrupt:
            case Opcode.NotifyReply:
                return None;
            case Opcode.Unlink:
            case Opcode.RmDir:
            case Opcode.Rename:
            case Opcode.Rename2:
            case Opcode.Release:
            case Opcode.ReleaseDir:
            case Opcode.Fsync:
            case Opcode.FsyncDir:
            case Opcode.Flush:
            case Opcode.SetXAttr:
            case Opcode.RemoveXAttr:
            case Opcode.Access:
            case Opcode.Fallocate:
            case Opcode.SetLk:
            case Opcode.SetLkW:
            case Opcode.Destroy:
            case Opcode.SyncFs:
            case Opcode.SetupMapping:
            case Opcode.RemoveMapping:
                return Empty;
            default:
                // Not in the table (e.g. CUSE): accept any reply; pass an explicit shape to be stricter.
                return UpTo(int.MaxValue - 64);
        }
    }

    private static int Size<T>() where T : unmanaged => Wire.SizeOf<T>();
}
