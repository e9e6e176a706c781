using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FuseActors.Engine.Protocol;

/// <summary>
/// Reads one raw kernel request: checks the header against the bytes read, reads the opcode's fixed struct and
/// names, and hands header and arguments to an <see cref="IRequestFactory{T}"/>. Stateless apart from the
/// negotiated protocol, so it runs on the reader thread. Allocates only the names (one byte array each: a Linux name is bytes, not text),
/// a BATCH_FORGET's items, a SETXATTR value and NOTIFY_REPLY data, plus whatever the factory builds; a WRITE's
/// payload stays in <c>buffer</c> (see <see cref="Parse{TFactory, T}"/>). Nothing past <c>length</c> is read.
/// </summary>
public static class RequestParser
{
    /// <summary>Parses <paramref name="length"/> bytes of <paramref name="buffer"/>. A body shorter than its opcode
    /// needs (or a name without its NUL) becomes <see cref="IRequestFactory{T}.Malformed"/>, which the engine answers
    /// EINVAL. When the result is a WRITE its data points into <paramref name="buffer"/> (<paramref name="tookBuffer"/>
    /// = true): the caller hands the buffer on with the request and reads the next one into a new buffer.</summary>
    public static T Parse<TFactory, T>(ref TFactory f, byte[] buffer, int length, NegotiatedProtocol protocol, out bool tookBuffer)
        where TFactory : struct, IRequestFactory<T> where T : class =>
        Parse<TFactory, T>(ref f, buffer, 0, length, protocol, out tookBuffer);

    /// <summary>As above, for a request read at <paramref name="start"/> in <paramref name="buffer"/>.</summary>
    public static T Parse<TFactory, T>(ref TFactory f, byte[] buffer, int start, int length, NegotiatedProtocol protocol, out bool tookBuffer)
        where TFactory : struct, IRequestFactory<T> where T : class
    {
        tookBuffer = false;
        int headerSize = Unsafe.SizeOf<FuseInHeader>();
        var msg = buffer.AsSpan(start, length);
        if (length < headerSize)
            return f.Malformed(default, $"request of {length} bytes is shorter than its header");
        var h = Read<FuseInHeader>(msg);
        if (h.Len != length)
            return f.Malformed(h, $"header says {h.Len} bytes, read {length}");
        int bodyLen = length - headerSize - h.TotalExtLen * 8;
        if (bodyLen < 0) return f.Malformed(h, "extensions longer than the request");
        var body = msg.Slice(headerSize, bodyLen);
        // The operation table's minimum first (one place for every opcode's fixed size); the readers below still
        // check what they read, and look at the variable parts (names, counts, data lengths).
        if (bodyLen < Operations.MinBodySize((Opcode)h.Opcode))
            return f.Malformed(h, $"{(Opcode)h.Opcode} body of {bodyLen} bytes is malformed");

        // One small method per operation keeps this frame small: the argument records hold strings and arrays, and
        // a frame holding all of them was zeroed on every request (1.1 KB: +30-60 ns per request, measured).
        T? request = (Opcode)h.Opcode switch
        {
            Opcode.Lookup => Lookup<TFactory, T>(ref f, h, body),
            Opcode.Forget => Forget<TFactory, T>(ref f, h, body),
            Opcode.BatchForget => BatchForget<TFactory, T>(ref f, h, body),
            Opcode.GetAttr => GetAttr<TFactory, T>(ref f, h, body),
            Opcode.SetAttr => SetAttr<TFactory, T>(ref f, h, body),
            Opcode.ReadLink => f.ReadLink(h),
            Opcode.Symlink => Symlink<TFactory, T>(ref f, h, body),
            Opcode.MkNod => MkNod<TFactory, T>(ref f, h, body),
            Opcode.MkDir => MkDir<TFactory, T>(ref f, h, body),
            Opcode.Unlink => Unlink<TFactory, T>(ref f, h, body),
            Opcode.RmDir => RmDir<TFactory, T>(ref f, h, body),
            Opcode.Rename => Rename<TFactory, T>(ref f, h, body),
            Opcode.Rename2 => Rename2<TFactory, T>(ref f, h, body),
            Opcode.Link => Link<TFactory, T>(ref f, h, body),
            Opcode.Open or Opcode.OpenDir => Open<TFactory, T>(ref f, h, body),
            Opcode.Read => Read<TFactory, T>(ref f, h, body),
            Opcode.ReadDir or Opcode.ReadDirPlus => ReadDir<TFactory, T>(ref f, h, body),
            Opcode.Write => Write<TFactory, T>(ref f, h, body, buffer, start, out tookBuffer),
            Opcode.StatFs => f.StatFs(h),
            Opcode.Release or Opcode.ReleaseDir => Release<TFactory, T>(ref f, h, body),
            Opcode.Fsync or Opcode.FsyncDir => Fsync<TFactory, T>(ref f, h, body),
            Opcode.SetXAttr => SetXAttr<TFactory, T>(ref f, h, body, protocol.SetXAttrExt),
            Opcode.GetXAttr => GetXAttr<TFactory, T>(ref f, h, body),
            Opcode.ListXAttr => ListXAttr<TFactory, T>(ref f, h, body),
            Opcode.RemoveXAttr => RemoveXAttr<TFactory, T>(ref f, h, body),
            Opcode.Flush => Flush<TFactory, T>(ref f, h, body),
            Opcode.Init => Init<TFactory, T>(ref f, h, body),
            Opcode.Access => Access<TFactory, T>(ref f, h, body),
            Opcode.Create => Create<TFactory, T>(ref f, h, body, tmpFile: false),
            Opcode.TmpFile => Create<TFactory, T>(ref f, h, body, tmpFile: true),
            Opcode.Interrupt => Interrupt<TFactory, T>(ref f, h, body),
            Opcode.Destroy => f.Destroy(h),
            Opcode.Fallocate => Fallocate<TFactory, T>(ref f, h, body),
            Opcode.Lseek => Lseek<TFactory, T>(ref f, h, body),
            Opcode.CopyFileRange or Opcode.CopyFileRange64 => CopyFileRange<TFactory, T>(ref f, h, body),
            Opcode.NotifyReply => NotifyReply<TFactory, T>(ref f, h, body),
            Opcode.GetLk or Opcode.SetLk or Opcode.SetLkW => Lock<TFactory, T>(ref f, h, body),
            _ => f.Unsupported(h),
        };
        return request ?? f.Malformed(h, $"{(Opcode)h.Opcode} body of {bodyLen} bytes is malformed");
    }

    // ------------------------------------------------------------------ one reader per operation
    // Each returns null when the body is malformed (too short, a name without its NUL).

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Lookup<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        Name(body, out var name) ? f.Lookup(h, new LookupArgs { Name = name }) : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Forget<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        body.Length >= Unsafe.SizeOf<FuseForgetIn>()
            ? f.Forget(h, new ForgetArgs { Items = [new FuseForgetOne { NodeId = h.NodeId, NLookup = Read<FuseForgetIn>(body).NLookup }], Count = 1 })
            : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? BatchForget<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseBatchForgetIn>(), itemSize = Unsafe.SizeOf<FuseForgetOne>();
        if (body.Length < fixedSize) return null;
        uint count = Read<FuseBatchForgetIn>(body).Count;
        if ((ulong)body.Length < (ulong)fixedSize + (ulong)itemSize * count) return null;
        var items = new FuseForgetOne[count];
        MemoryMarshal.Cast<byte, FuseForgetOne>(body.Slice(fixedSize, (int)count * itemSize)).CopyTo(items);
        return f.Forget(h, new ForgetArgs { Items = items, Count = (int)count });
    }

    private static T? GetAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseGetAttrIn>()) return null;
        var g = Read<FuseGetAttrIn>(body);
        return f.GetAttr(h, new GetAttrArgs { Fh = ((GetAttrFlags)g.GetAttrFlags & GetAttrFlags.Fh) != 0 ? g.Fh : null });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? SetAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseSetAttrIn>()) return null;
        var s = Read<FuseSetAttrIn>(body);
        var valid = (SetAttrValid)s.Valid;
        return f.SetAttr(h, new SetAttrArgs
        {
            Valid = valid,
            Fh = (valid & SetAttrValid.Fh) != 0 ? s.Fh : null,
            Size = s.Size, LockOwner = s.LockOwner,
            Atime = s.Atime, Mtime = s.Mtime, Ctime = s.Ctime,
            AtimeNsec = s.AtimeNsec, MtimeNsec = s.MtimeNsec, CtimeNsec = s.CtimeNsec,
            Mode = s.Mode, Uid = s.Uid, Gid = s.Gid,
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Symlink<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        Name(body, out var name, out int used) && Raw(body[used..], out var target) ? f.Symlink(h, new SymlinkArgs { Name = name, Target = target }) : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? MkNod<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseMkNodIn>();
        if (body.Length < fixedSize || !Name(body[fixedSize..], out var n)) return null;
        var m = Read<FuseMkNodIn>(body);
        return f.MkNod(h, new MkNodArgs { Name = n, Mode = m.Mode, Rdev = m.Rdev, Umask = m.Umask });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? MkDir<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseMkDirIn>();
        if (body.Length < fixedSize || !Name(body[fixedSize..], out var n)) return null;
        var m = Read<FuseMkDirIn>(body);
        return f.MkDir(h, new MkDirArgs { Name = n, Mode = m.Mode, Umask = m.Umask });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Unlink<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        Name(body, out var name) ? f.Unlink(h, new UnlinkArgs { Name = name }) : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? RmDir<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        Name(body, out var name) ? f.RmDir(h, new RmDirArgs { Name = name }) : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Rename<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseRenameIn>();
        if (body.Length < fixedSize || !Names(body, fixedSize, out var from, out var to)) return null;
        return f.Rename(h, new RenameArgs { NewDir = Read<FuseRenameIn>(body).NewDir, Name = from, NewName = to });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Rename2<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseRename2In>();
        if (body.Length < fixedSize || !Names(body, fixedSize, out var from, out var to)) return null;
        var r = Read<FuseRename2In>(body);
        return f.Rename(h, new RenameArgs { NewDir = r.NewDir, Flags = (RenameFlags)r.Flags, Name = from, NewName = to });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Link<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseLinkIn>();
        if (body.Length < fixedSize || !Name(body[fixedSize..], out var n)) return null;
        return f.Link(h, new LinkArgs { OldNodeId = Read<FuseLinkIn>(body).OldNodeId, NewName = n });
    }

    private static T? Open<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseOpenIn>()) return null;
        var o = Read<FuseOpenIn>(body);
        return f.Open(h, new OpenArgs
        {
            IsDirectory = h.Opcode == (uint)Opcode.OpenDir, Flags = (OpenFlags)o.Flags, KernelOpenFlags = (KernelOpenFlags)o.OpenFlags,
        });
    }

    private static T? Read<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseReadIn>()) return null;
        var r = Read<FuseReadIn>(body);
        return f.Read(h, new ReadArgs
        {
            Fh = r.Fh, Offset = r.Offset, Size = r.Size, ReadFlags = (ReadFlags)r.ReadFlags, LockOwner = r.LockOwner, Flags = (OpenFlags)r.Flags,
        });
    }

    private static T? ReadDir<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseReadIn>()) return null;
        var r = Read<FuseReadIn>(body);
        return f.ReadDir(h, new ReadDirArgs { IsPlus = h.Opcode == (uint)Opcode.ReadDirPlus, Fh = r.Fh, Offset = r.Offset, Size = r.Size });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Write<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body, byte[] buffer, int start, out bool tookBuffer)
        where TFactory : struct, IRequestFactory<T> where T : class
    {
        tookBuffer = false;
        int fixedSize = Unsafe.SizeOf<FuseWriteIn>();
        if (body.Length < fixedSize) return null;
        var w = Read<FuseWriteIn>(body);
        if (body.Length - fixedSize < w.Size) return null;
        tookBuffer = true;
        return f.Write(h, new WriteArgs
        {
            Fh = w.Fh, Offset = w.Offset, WriteFlags = (WriteFlags)w.WriteFlags, LockOwner = w.LockOwner, Flags = (OpenFlags)w.Flags,
            Data = buffer.AsMemory(start + Unsafe.SizeOf<FuseInHeader>() + fixedSize, (int)w.Size),
        });
    }

    private static T? Release<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseReleaseIn>()) return null;
        var r = Read<FuseReleaseIn>(body);
        return f.Release(h, new ReleaseArgs
        {
            IsDirectory = h.Opcode == (uint)Opcode.ReleaseDir, Fh = r.Fh, Flags = (OpenFlags)r.Flags,
            ReleaseFlags = (ReleaseFlags)r.ReleaseFlags, LockOwner = r.LockOwner,
        });
    }

    private static T? Fsync<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseFsyncIn>()) return null;
        var s = Read<FuseFsyncIn>(body);
        return f.Fsync(h, new FsyncArgs { IsDirectory = h.Opcode == (uint)Opcode.FsyncDir, Fh = s.Fh, FsyncFlags = (FsyncFlags)s.FsyncFlags });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? SetXAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body, bool setXAttrExt)
        where TFactory : struct, IRequestFactory<T> where T : class
    {
        // Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat struct (size, flags) before the name.
        int fullSize = Unsafe.SizeOf<FuseSetXAttrIn>();
        int fixedSize = setXAttrExt ? fullSize : FuseConstants.CompatSetXAttrInSize;
        if (body.Length < fixedSize) return null;
        Span<byte> padded = stackalloc byte[fullSize];
        padded.Clear();
        body[..fixedSize].CopyTo(padded);
        var s = Read<FuseSetXAttrIn>(padded);
        var rest = body[fixedSize..];
        int nul = rest.IndexOf((byte)0);
        if (nul <= 0 || rest.Length - nul - 1 < s.Size) return null;
        return f.SetXAttr(h, new SetXAttrArgs
        {
            Name = rest[..nul].ToArray(),
            Value = rest.Slice(nul + 1, (int)s.Size).ToArray(),
            Flags = (XAttrFlags)s.Flags,
            SetXAttrFlags = s.SetXAttrFlags,
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? GetXAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseGetXAttrIn>();
        if (body.Length < fixedSize || !Raw(body[fixedSize..], out var n)) return null;
        return f.GetXAttr(h, new GetXAttrArgs { Size = Read<FuseGetXAttrIn>(body).Size, Name = n });
    }

    private static T? ListXAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        body.Length >= Unsafe.SizeOf<FuseGetXAttrIn>() ? f.ListXAttr(h, new ListXAttrArgs { Size = Read<FuseGetXAttrIn>(body).Size }) : null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? RemoveXAttr<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        Raw(body, out var name) ? f.RemoveXAttr(h, new RemoveXAttrArgs { Name = name }) : null;

    private static T? Flush<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseFlushIn>()) return null;
        var fl = Read<FuseFlushIn>(body);
        return f.Flush(h, new FlushArgs { Fh = fl.Fh, LockOwner = fl.LockOwner });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Init<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        // Kernels before 7.36 send only the first 16 bytes (major, minor, max_readahead, flags).
        int fullSize = Unsafe.SizeOf<FuseInitIn>();
        if (body.Length < FuseConstants.CompatInitInSize) return null;
        Span<byte> padded = stackalloc byte[fullSize];
        padded.Clear();
        body[..Math.Min(body.Length, fullSize)].CopyTo(padded);
        var i = Read<FuseInitIn>(padded);
        ulong flags = i.Flags;
        if ((flags & (ulong)InitFlags.InitExt) != 0) flags |= (ulong)i.Flags2 << 32;
        return f.Init(h, new InitArgs { Major = i.Major, Minor = i.Minor, MaxReadahead = i.MaxReadahead, Flags = (InitFlags)flags });
    }

    private static T? Access<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        body.Length >= Unsafe.SizeOf<FuseAccessIn>() ? f.Access(h, new AccessArgs { Mask = Read<FuseAccessIn>(body).Mask }) : null;

    /// <summary>CREATE, and TMPFILE (<paramref name="tmpFile"/>): the same fuse_create_in. A TMPFILE's name is the
    /// kernel's placeholder for the unnamed dentry ("/"), not a name in the directory, so it is not kept.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Create<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body, bool tmpFile) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseCreateIn>();
        FileName n = default;
        if (body.Length < fixedSize || (!tmpFile && !Name(body[fixedSize..], out n))) return null;
        var c = Read<FuseCreateIn>(body);
        return f.Create(h, new CreateArgs
        {
            Name = n, IsTmpFile = tmpFile, Flags = (OpenFlags)c.Flags, Mode = c.Mode, Umask = c.Umask, KernelOpenFlags = (KernelOpenFlags)c.OpenFlags,
        });
    }

    private static T? Interrupt<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class =>
        body.Length >= Unsafe.SizeOf<FuseInterruptIn>() ? f.Interrupt(h, new InterruptArgs { TargetUnique = Read<FuseInterruptIn>(body).Unique }) : null;

    private static T? Fallocate<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseFallocateIn>()) return null;
        var fa = Read<FuseFallocateIn>(body);
        return f.Fallocate(h, new FallocateArgs { Fh = fa.Fh, Offset = fa.Offset, Length = fa.Length, Mode = (FallocateFlags)fa.Mode });
    }

    private static T? Lseek<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseLseekIn>()) return null;
        var l = Read<FuseLseekIn>(body);
        return f.Lseek(h, new LseekArgs { Fh = l.Fh, Offset = l.Offset, Whence = l.Whence });
    }

    private static T? CopyFileRange<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseCopyFileRangeIn>()) return null;
        var c = Read<FuseCopyFileRangeIn>(body);
        return f.CopyFileRange(h, new CopyFileRangeArgs
        {
            Is64 = h.Opcode == (uint)Opcode.CopyFileRange64, FhIn = c.FhIn, OffsetIn = c.OffIn, NodeIdOut = c.NodeIdOut,
            FhOut = c.FhOut, OffsetOut = c.OffOut, Length = c.Len, Flags = c.Flags,
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? NotifyReply<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        int fixedSize = Unsafe.SizeOf<FuseNotifyRetrieveIn>();
        return body.Length >= fixedSize
            ? f.NotifyReply(h, new NotifyReplyArgs { Offset = Read<FuseNotifyRetrieveIn>(body).Offset, Data = body[fixedSize..].ToArray() })
            : null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T? Lock<TFactory, T>(ref TFactory f, in FuseInHeader h, ReadOnlySpan<byte> body) where TFactory : struct, IRequestFactory<T> where T : class
    {
        if (body.Length < Unsafe.SizeOf<FuseLkIn>()) return null;
        var l = Read<FuseLkIn>(body);
        var args = new LockArgs { Fh = l.Fh, Owner = l.Owner, Lock = l.Lk, LkFlags = l.LkFlags, Wait = h.Opcode == (uint)Opcode.SetLkW };
        return h.Opcode == (uint)Opcode.GetLk ? f.GetLock(h, args) : f.SetLock(h, args);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Read<T>(ReadOnlySpan<byte> s) where T : unmanaged => MemoryMarshal.Read<T>(s);

    /// <summary>A NUL-terminated entry name at the start of <paramref name="body"/> (the NUL is required), kept as
    /// its bytes. A name holding '/' is malformed: the kernel never sends one.</summary>
    private static bool Name(ReadOnlySpan<byte> body, out FileName name) => Name(body, out name, out _);

    private static bool Name(ReadOnlySpan<byte> body, out FileName name, out int used)
    {
        name = default;
        used = 0;
        int nul = body.IndexOf((byte)0);
        if (nul <= 0) return false;
        var bytes = body[..nul];
        if (bytes.IndexOf((byte)'/') >= 0) return false;
        name = FileName.OwnUnchecked(bytes.ToArray());
        used = nul + 1;
        return true;
    }

    /// <summary>A NUL-terminated byte string that may hold '/' (a symlink target, an xattr name).</summary>
    private static bool Raw(ReadOnlySpan<byte> body, out byte[] bytes)
    {
        int nul = body.IndexOf((byte)0);
        if (nul <= 0) { bytes = []; return false; }
        bytes = body[..nul].ToArray();
        return true;
    }

    /// <summary>Two NUL-terminated names after <paramref name="skip"/> bytes of fixed struct.</summary>
    private static bool Names(ReadOnlySpan<byte> body, int skip, out FileName first, out FileName second)
    {
        first = second = default;
        if (body.Length < skip) return false;
        var rest = body[skip..];
        return Name(rest, out first, out int used) && Name(rest[used..], out second);
    }
}
