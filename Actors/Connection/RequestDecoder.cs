using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// Turns one raw kernel request into its typed <see cref="FsRequest"/>. Stateless apart from the negotiated
/// protocol, so it runs on the reader thread and keeps parsing off the connection actor. Every field is copied
/// out of the buffer except a WRITE's payload, which keeps the buffer (see <see cref="Decode"/>).
/// </summary>
public static class RequestDecoder
{
    /// <summary>Decodes <paramref name="length"/> bytes of <paramref name="buffer"/>. When the result is a WRITE
    /// it takes ownership of <paramref name="buffer"/> (<paramref name="tookBuffer"/> = true): the caller must use a new one.</summary>
    public static FsRequest Decode(byte[] buffer, int length, ReplySettings protocol, out bool tookBuffer)
    {
        tookBuffer = false;
        var msg = buffer.AsSpan(0, length);
        if (length < FuseConstants.InHeaderSize)
            return new MalformedRequest { Reason = $"request of {length} bytes is shorter than its header" };
        var h = Read<FuseInHeader>(msg);
        if (h.Len != length)
            return Bad(h, $"header says {h.Len} bytes, read {length}");
        int bodyLen = length - FuseConstants.InHeaderSize - h.TotalExtLen * 8;
        if (bodyLen < 0) return Bad(h, "extensions longer than the request");
        var body = msg.Slice(FuseConstants.InHeaderSize, bodyLen);

        FsRequest? r = (Opcode)h.Opcode switch
        {
            Opcode.Lookup => Name(body, out var n) ? new LookupRequest { Name = n } : null,
            Opcode.Forget => body.Length >= 8 ? new ForgetRequest { Items = [new FuseForgetOne { NodeId = h.NodeId, NLookup = Read<FuseForgetIn>(body).NLookup }], Count = 1 } : null,
            Opcode.BatchForget => DecodeBatchForget(body),
            Opcode.GetAttr => DecodeGetAttr(body),
            Opcode.SetAttr => DecodeSetAttr(body),
            Opcode.ReadLink => new ReadLinkRequest(),
            Opcode.Symlink => Names(body, 0, out var a, out var b) ? new SymlinkRequest { Name = a, Target = b } : null,
            Opcode.MkNod => DecodeMkNod(body),
            Opcode.MkDir => body.Length >= 8 && Name(body[8..], out var dn)
                ? new MkDirRequest { Mode = Read<FuseMkDirIn>(body).Mode, Umask = Read<FuseMkDirIn>(body).Umask, Name = dn } : null,
            Opcode.Unlink => Name(body, out var un) ? new UnlinkRequest { Name = un } : null,
            Opcode.RmDir => Name(body, out var rn) ? new RmDirRequest { Name = rn } : null,
            Opcode.Rename => body.Length >= 8 && Names(body, 8, out var o1, out var n1)
                ? new RenameRequest { NewDir = Read<FuseRenameIn>(body).NewDir, Name = o1, NewName = n1 } : null,
            Opcode.Rename2 => body.Length >= 16 && Names(body, 16, out var o2, out var n2)
                ? new RenameRequest { NewDir = Read<FuseRename2In>(body).NewDir, Flags = Read<FuseRename2In>(body).Flags, Name = o2, NewName = n2 } : null,
            Opcode.Link => body.Length >= 8 && Name(body[8..], out var ln)
                ? new LinkRequest { OldNodeId = Read<FuseLinkIn>(body).OldNodeId, NewName = ln } : null,
            Opcode.Open or Opcode.OpenDir => body.Length >= 8
                ? new OpenRequest { IsDirectory = h.Opcode == (uint)Opcode.OpenDir, Flags = Read<FuseOpenIn>(body).Flags, OpenFlags = Read<FuseOpenIn>(body).OpenFlags } : null,
            Opcode.Read => body.Length >= 40 ? DecodeRead(body) : null,
            Opcode.ReadDir or Opcode.ReadDirPlus => body.Length >= 40 ? DecodeReadDir(body, h.Opcode == (uint)Opcode.ReadDirPlus) : null,
            Opcode.Write => DecodeWrite(buffer, body, out tookBuffer),
            Opcode.StatFs => new StatFsRequest(),
            Opcode.Release or Opcode.ReleaseDir => body.Length >= 24 ? DecodeRelease(body, h.Opcode == (uint)Opcode.ReleaseDir) : null,
            Opcode.Fsync or Opcode.FsyncDir => body.Length >= 16
                ? new FsyncRequest { IsDirectory = h.Opcode == (uint)Opcode.FsyncDir, Fh = Read<FuseFsyncIn>(body).Fh, DataSync = (Read<FuseFsyncIn>(body).FsyncFlags & FuseConstants.FsyncFdataSync) != 0 } : null,
            Opcode.SetXAttr => DecodeSetXAttr(body, protocol.SetXAttrExt),
            Opcode.GetXAttr => body.Length >= 8 && Name(body[8..], out var gx) ? new GetXAttrRequest { Size = Read<FuseGetXAttrIn>(body).Size, Name = gx } : null,
            Opcode.ListXAttr => body.Length >= 8 ? new ListXAttrRequest { Size = Read<FuseGetXAttrIn>(body).Size } : null,
            Opcode.RemoveXAttr => Name(body, out var rx) ? new RemoveXAttrRequest { Name = rx } : null,
            Opcode.Flush => body.Length >= 24 ? new FlushRequest { Fh = Read<FuseFlushIn>(body).Fh, LockOwner = Read<FuseFlushIn>(body).LockOwner } : null,
            Opcode.Init => DecodeInit(body),
            Opcode.Access => body.Length >= 8 ? new AccessRequest { Mask = Read<FuseAccessIn>(body).Mask } : null,
            Opcode.Create => DecodeCreate(body),
            Opcode.Interrupt => body.Length >= 8 ? new InterruptRequest { TargetUnique = Read<FuseInterruptIn>(body).Unique } : null,
            Opcode.Destroy => new DestroyRequest(),
            Opcode.Fallocate => body.Length >= 32 ? DecodeFallocate(body) : null,
            Opcode.Lseek => body.Length >= 24
                ? new LseekRequest { Fh = Read<FuseLseekIn>(body).Fh, Offset = Read<FuseLseekIn>(body).Offset, Whence = Read<FuseLseekIn>(body).Whence } : null,
            Opcode.CopyFileRange or Opcode.CopyFileRange64 => body.Length >= 56 ? DecodeCopy(body, h.Opcode == (uint)Opcode.CopyFileRange64) : null,
            Opcode.NotifyReply => body.Length >= 40
                ? new NotifyReplyRequest { Offset = Read<FuseNotifyRetrieveIn>(body).Offset, Data = body[40..].ToArray() } : null,
            _ => new UnsupportedRequest { RawOpcode = h.Opcode },
        };
        if (r is null)
        {
            if (tookBuffer) tookBuffer = false;
            return Bad(h, $"{(Opcode)h.Opcode} body of {bodyLen} bytes is malformed");
        }
        r.Header = h;
        return r;
    }

    private static MalformedRequest Bad(in FuseInHeader h, string reason) =>
        new() { Header = h, RawOpcode = h.Opcode, Reason = reason };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Read<T>(ReadOnlySpan<byte> s) where T : unmanaged => MemoryMarshal.Read<T>(s);

    /// <summary>A NUL-terminated name filling the body (the NUL is required).</summary>
    private static bool Name(ReadOnlySpan<byte> body, out string name)
    {
        int nul = body.IndexOf((byte)0);
        if (nul <= 0) { name = ""; return false; }
        name = Encoding.UTF8.GetString(body[..nul]);
        return true;
    }

    /// <summary>Two NUL-terminated names after <paramref name="skip"/> bytes of fixed struct.</summary>
    private static bool Names(ReadOnlySpan<byte> body, int skip, out string first, out string second)
    {
        first = second = "";
        if (body.Length < skip) return false;
        var rest = body[skip..];
        int nul = rest.IndexOf((byte)0);
        if (nul <= 0) return false;
        first = Encoding.UTF8.GetString(rest[..nul]);
        return Name(rest[(nul + 1)..], out second);
    }

    private static FsRequest? DecodeBatchForget(ReadOnlySpan<byte> body)
    {
        if (body.Length < 8) return null;
        uint count = Read<FuseBatchForgetIn>(body).Count;
        if ((ulong)body.Length < 8 + 16UL * count) return null;
        var items = new FuseForgetOne[count];
        MemoryMarshal.Cast<byte, FuseForgetOne>(body.Slice(8, (int)count * 16)).CopyTo(items);
        return new ForgetRequest { Items = items, Count = (int)count };
    }

    private static FsRequest? DecodeGetAttr(ReadOnlySpan<byte> body)
    {
        if (body.Length < 16) return null;
        var g = Read<FuseGetAttrIn>(body);
        return new GetAttrRequest { Fh = (g.GetAttrFlags & FuseConstants.GetAttrFh) != 0 ? g.Fh : null };
    }

    private static FsRequest? DecodeSetAttr(ReadOnlySpan<byte> body)
    {
        if (body.Length < 88) return null;
        var s = Read<FuseSetAttrIn>(body);
        return new SetAttrRequest
        {
            Valid = s.Valid,
            Fh = (s.Valid & FuseConstants.FattrFh) != 0 ? s.Fh : null,
            Size = s.Size,
            Atime = new FsTime((long)s.Atime, s.AtimeNsec),
            Mtime = new FsTime((long)s.Mtime, s.MtimeNsec),
            Ctime = new FsTime((long)s.Ctime, s.CtimeNsec),
            Mode = s.Mode,
            AttrUid = s.Uid,
            AttrGid = s.Gid,
        };
    }

    private static FsRequest? DecodeMkNod(ReadOnlySpan<byte> body)
    {
        if (body.Length < 16) return null;
        var m = Read<FuseMkNodIn>(body);
        return Name(body[16..], out var n) ? new MkNodRequest { Mode = m.Mode, Rdev = m.Rdev, Umask = m.Umask, Name = n } : null;
    }

    private static FsRequest DecodeRead(ReadOnlySpan<byte> body)
    {
        var r = Read<FuseReadIn>(body);
        return new ReadRequest { Fh = r.Fh, Offset = r.Offset, Size = r.Size, ReadFlags = r.ReadFlags, Flags = r.Flags };
    }

    private static FsRequest DecodeReadDir(ReadOnlySpan<byte> body, bool plus)
    {
        var r = Read<FuseReadIn>(body);
        return new ReadDirRequest { IsPlus = plus, Fh = r.Fh, Offset = r.Offset, Size = r.Size };
    }

    private static FsRequest? DecodeWrite(byte[] buffer, ReadOnlySpan<byte> body, out bool tookBuffer)
    {
        tookBuffer = false;
        if (body.Length < 40) return null;
        var w = Read<FuseWriteIn>(body);
        if (body.Length - 40 < w.Size) return null;
        tookBuffer = true;
        int dataStart = FuseConstants.InHeaderSize + 40;
        return new WriteRequest
        {
            Fh = w.Fh, Offset = w.Offset, WriteFlags = w.WriteFlags, Flags = w.Flags,
            Buffer = buffer,
            Data = buffer.AsMemory(dataStart, (int)w.Size),
        };
    }

    private static FsRequest DecodeRelease(ReadOnlySpan<byte> body, bool dir)
    {
        var r = Read<FuseReleaseIn>(body);
        return new ReleaseRequest { IsDirectory = dir, Fh = r.Fh, Flags = r.Flags, ReleaseFlags = r.ReleaseFlags };
    }

    private static FsRequest? DecodeSetXAttr(ReadOnlySpan<byte> body, bool ext)
    {
        int fixedSize = ext ? 16 : 8;
        if (body.Length < fixedSize) return null;
        var s = Read<FuseSetXAttrIn>(body.Length >= 16 ? body : PadTo16(body));
        var rest = body[fixedSize..];
        int nul = rest.IndexOf((byte)0);
        if (nul <= 0 || rest.Length - nul - 1 < s.Size) return null;
        return new SetXAttrRequest
        {
            Name = Encoding.UTF8.GetString(rest[..nul]),
            Value = rest.Slice(nul + 1, (int)s.Size).ToArray(),
            Flags = s.Flags,
        };
    }

    private static ReadOnlySpan<byte> PadTo16(ReadOnlySpan<byte> s)
    {
        var b = new byte[16];
        s[..Math.Min(16, s.Length)].CopyTo(b);
        return b;
    }

    private static FsRequest? DecodeInit(ReadOnlySpan<byte> body)
    {
        // Kernels before 7.36 send only 16 bytes (major, minor, max_readahead, flags).
        if (body.Length < 16) return null;
        var full = body.Length >= 64 ? body : PadTo64(body);
        var i = Read<FuseInitIn>(full);
        ulong flags = i.Flags;
        if ((flags & (ulong)InitFlags.InitExt) != 0) flags |= (ulong)i.Flags2 << 32;
        return new InitRequest { Major = i.Major, Minor = i.Minor, MaxReadahead = i.MaxReadahead, Flags = (InitFlags)flags };
    }

    private static ReadOnlySpan<byte> PadTo64(ReadOnlySpan<byte> s)
    {
        var b = new byte[64];
        s.CopyTo(b);
        return b;
    }

    private static FsRequest? DecodeCreate(ReadOnlySpan<byte> body)
    {
        if (body.Length < 16) return null;
        var c = Read<FuseCreateIn>(body);
        return Name(body[16..], out var n)
            ? new CreateRequest { Flags = c.Flags, Mode = c.Mode, Umask = c.Umask, OpenFlags = c.OpenFlags, Name = n } : null;
    }

    private static FsRequest DecodeFallocate(ReadOnlySpan<byte> body)
    {
        var f = Read<FuseFallocateIn>(body);
        return new FallocateRequest { Fh = f.Fh, Offset = f.Offset, Length = f.Length, Mode = f.Mode };
    }

    private static FsRequest DecodeCopy(ReadOnlySpan<byte> body, bool is64)
    {
        var c = Read<FuseCopyFileRangeIn>(body);
        return new CopyFileRangeRequest
        {
            Is64 = is64, FhIn = c.FhIn, OffsetIn = c.OffIn, NodeIdOut = c.NodeIdOut, FhOut = c.FhOut,
            OffsetOut = c.OffOut, Length = c.Len, Flags = c.Flags,
        };
    }
}
