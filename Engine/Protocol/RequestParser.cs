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
        where TFactory : struct, IRequestFactory<T>
    {
        tookBuffer = false;
        int headerSize = Unsafe.SizeOf<FuseInHeader>();
        var msg = buffer.AsSpan(0, length);
        if (length < headerSize)
            return f.Malformed(default, $"request of {length} bytes is shorter than its header");
        var h = Read<FuseInHeader>(msg);
        if (h.Len != length)
            return f.Malformed(h, $"header says {h.Len} bytes, read {length}");
        int bodyLen = length - headerSize - h.TotalExtLen * 8;
        if (bodyLen < 0) return f.Malformed(h, "extensions longer than the request");
        var body = msg.Slice(headerSize, bodyLen);
        // The operation table's minimum first (one place for every opcode's fixed size); the cases below still read
        // only what they checked, and look at the variable parts (names, counts, data lengths).
        if (Operations.TryGet((Opcode)h.Opcode, out var operation) && bodyLen < operation.MinBodySize)
            return f.Malformed(h, $"{(Opcode)h.Opcode} body of {bodyLen} bytes is malformed");

        switch ((Opcode)h.Opcode)
        {
            case Opcode.Lookup:
                if (Name(body, out var lookupName)) return f.Lookup(h, new LookupArgs { Name = lookupName });
                break;
            case Opcode.Forget:
                if (body.Length >= Unsafe.SizeOf<FuseForgetIn>())
                    return f.Forget(h, new ForgetArgs
                    {
                        Items = [new FuseForgetOne { NodeId = h.NodeId, NLookup = Read<FuseForgetIn>(body).NLookup }], Count = 1,
                    });
                break;
            case Opcode.BatchForget:
            {
                int fixedSize = Unsafe.SizeOf<FuseBatchForgetIn>(), itemSize = Unsafe.SizeOf<FuseForgetOne>();
                if (body.Length < fixedSize) break;
                uint count = Read<FuseBatchForgetIn>(body).Count;
                if ((ulong)body.Length < (ulong)fixedSize + (ulong)itemSize * count) break;
                var items = new FuseForgetOne[count];
                MemoryMarshal.Cast<byte, FuseForgetOne>(body.Slice(fixedSize, (int)count * itemSize)).CopyTo(items);
                return f.Forget(h, new ForgetArgs { Items = items, Count = (int)count });
            }
            case Opcode.GetAttr:
                if (body.Length >= Unsafe.SizeOf<FuseGetAttrIn>())
                {
                    var g = Read<FuseGetAttrIn>(body);
                    return f.GetAttr(h, new GetAttrArgs { Fh = ((GetAttrFlags)g.GetAttrFlags & GetAttrFlags.Fh) != 0 ? g.Fh : null });
                }
                break;
            case Opcode.SetAttr:
                if (body.Length >= Unsafe.SizeOf<FuseSetAttrIn>())
                {
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
                break;
            case Opcode.ReadLink:
                return f.ReadLink(h);
            case Opcode.Symlink:
                if (Name(body, out var linkName, out int used) && Raw(body[used..], out var target))
                    return f.Symlink(h, new SymlinkArgs { Name = linkName, Target = target });
                break;
            case Opcode.MkNod:
            {
                int fixedSize = Unsafe.SizeOf<FuseMkNodIn>();
                if (body.Length >= fixedSize && Name(body[fixedSize..], out var n))
                {
                    var m = Read<FuseMkNodIn>(body);
                    return f.MkNod(h, new MkNodArgs { Name = n, Mode = m.Mode, Rdev = m.Rdev, Umask = m.Umask });
                }
                break;
            }
            case Opcode.MkDir:
            {
                int fixedSize = Unsafe.SizeOf<FuseMkDirIn>();
                if (body.Length >= fixedSize && Name(body[fixedSize..], out var n))
                {
                    var m = Read<FuseMkDirIn>(body);
                    return f.MkDir(h, new MkDirArgs { Name = n, Mode = m.Mode, Umask = m.Umask });
                }
                break;
            }
            case Opcode.Unlink:
                if (Name(body, out var unlinkName)) return f.Unlink(h, new UnlinkArgs { Name = unlinkName });
                break;
            case Opcode.RmDir:
                if (Name(body, out var rmdirName)) return f.RmDir(h, new RmDirArgs { Name = rmdirName });
                break;
            case Opcode.Rename:
            {
                int fixedSize = Unsafe.SizeOf<FuseRenameIn>();
                if (body.Length >= fixedSize && Names(body, fixedSize, out var from, out var to))
                    return f.Rename(h, new RenameArgs { NewDir = Read<FuseRenameIn>(body).NewDir, Name = from, NewName = to });
                break;
            }
            case Opcode.Rename2:
            {
                int fixedSize = Unsafe.SizeOf<FuseRename2In>();
                if (body.Length >= fixedSize && Names(body, fixedSize, out var from, out var to))
                {
                    var r = Read<FuseRename2In>(body);
                    return f.Rename(h, new RenameArgs { NewDir = r.NewDir, Flags = (RenameFlags)r.Flags, Name = from, NewName = to });
                }
                break;
            }
            case Opcode.Link:
            {
                int fixedSize = Unsafe.SizeOf<FuseLinkIn>();
                if (body.Length >= fixedSize && Name(body[fixedSize..], out var n))
                    return f.Link(h, new LinkArgs { OldNodeId = Read<FuseLinkIn>(body).OldNodeId, NewName = n });
                break;
            }
            case Opcode.Open or Opcode.OpenDir:
                if (body.Length >= Unsafe.SizeOf<FuseOpenIn>())
                {
                    var o = Read<FuseOpenIn>(body);
                    return f.Open(h, new OpenArgs
                    {
                        IsDirectory = h.Opcode == (uint)Opcode.OpenDir, Flags = (OpenFlags)o.Flags, KernelOpenFlags = (KernelOpenFlags)o.OpenFlags,
                    });
                }
                break;
            case Opcode.Read:
                if (body.Length >= Unsafe.SizeOf<FuseReadIn>())
                {
                    var r = Read<FuseReadIn>(body);
                    return f.Read(h, new ReadArgs
                    {
                        Fh = r.Fh, Offset = r.Offset, Size = r.Size, ReadFlags = (ReadFlags)r.ReadFlags, LockOwner = r.LockOwner, Flags = (OpenFlags)r.Flags,
                    });
                }
                break;
            case Opcode.ReadDir or Opcode.ReadDirPlus:
                if (body.Length >= Unsafe.SizeOf<FuseReadIn>())
                {
                    var r = Read<FuseReadIn>(body);
                    return f.ReadDir(h, new ReadDirArgs { IsPlus = h.Opcode == (uint)Opcode.ReadDirPlus, Fh = r.Fh, Offset = r.Offset, Size = r.Size });
                }
                break;
            case Opcode.Write:
            {
                int fixedSize = Unsafe.SizeOf<FuseWriteIn>();
                if (body.Length < fixedSize) break;
                var w = Read<FuseWriteIn>(body);
                if (body.Length - fixedSize < w.Size) break;
                tookBuffer = true;
                return f.Write(h, new WriteArgs
                {
                    Fh = w.Fh, Offset = w.Offset, WriteFlags = (WriteFlags)w.WriteFlags, LockOwner = w.LockOwner, Flags = (OpenFlags)w.Flags,
                    Data = buffer.AsMemory(headerSize + fixedSize, (int)w.Size),
                });
            }
            case Opcode.StatFs:
                return f.StatFs(h);
            case Opcode.Release or Opcode.ReleaseDir:
                if (body.Length >= Unsafe.SizeOf<FuseReleaseIn>())
                {
                    var r = Read<FuseReleaseIn>(body);
                    return f.Release(h, new ReleaseArgs
                    {
                        IsDirectory = h.Opcode == (uint)Opcode.ReleaseDir, Fh = r.Fh, Flags = (OpenFlags)r.Flags,
                        ReleaseFlags = (ReleaseFlags)r.ReleaseFlags, LockOwner = r.LockOwner,
                    });
                }
                break;
            case Opcode.Fsync or Opcode.FsyncDir:
                if (body.Length >= Unsafe.SizeOf<FuseFsyncIn>())
                {
                    var s = Read<FuseFsyncIn>(body);
                    return f.Fsync(h, new FsyncArgs { IsDirectory = h.Opcode == (uint)Opcode.FsyncDir, Fh = s.Fh, FsyncFlags = (FsyncFlags)s.FsyncFlags });
                }
                break;
            case Opcode.SetXAttr:
            {
                // Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat struct (size, flags) before the name.
                int fullSize = Unsafe.SizeOf<FuseSetXAttrIn>();
                int fixedSize = protocol.SetXAttrExt ? fullSize : FuseConstants.CompatSetXAttrInSize;
                if (body.Length < fixedSize) break;
                Span<byte> padded = stackalloc byte[fullSize];
                padded.Clear();
                body[..fixedSize].CopyTo(padded);
                var s = Read<FuseSetXAttrIn>(padded);
                var rest = body[fixedSize..];
                int nul = rest.IndexOf((byte)0);
                if (nul <= 0 || rest.Length - nul - 1 < s.Size) break;
                return f.SetXAttr(h, new SetXAttrArgs
                {
                    Name = rest[..nul].ToArray(),
                    Value = rest.Slice(nul + 1, (int)s.Size).ToArray(),
                    Flags = (XAttrFlags)s.Flags,
                    SetXAttrFlags = s.SetXAttrFlags,
                });
            }
            case Opcode.GetXAttr:
            {
                int fixedSize = Unsafe.SizeOf<FuseGetXAttrIn>();
                if (body.Length >= fixedSize && Raw(body[fixedSize..], out var n))
                    return f.GetXAttr(h, new GetXAttrArgs { Size = Read<FuseGetXAttrIn>(body).Size, Name = n });
                break;
            }
            case Opcode.ListXAttr:
                if (body.Length >= Unsafe.SizeOf<FuseGetXAttrIn>()) return f.ListXAttr(h, new ListXAttrArgs { Size = Read<FuseGetXAttrIn>(body).Size });
                break;
            case Opcode.RemoveXAttr:
                if (Raw(body, out var removeName)) return f.RemoveXAttr(h, new RemoveXAttrArgs { Name = removeName });
                break;
            case Opcode.Flush:
                if (body.Length >= Unsafe.SizeOf<FuseFlushIn>())
                {
                    var fl = Read<FuseFlushIn>(body);
                    return f.Flush(h, new FlushArgs { Fh = fl.Fh, LockOwner = fl.LockOwner });
                }
                break;
            case Opcode.Init:
            {
                // Kernels before 7.36 send only the first 16 bytes (major, minor, max_readahead, flags).
                int fullSize = Unsafe.SizeOf<FuseInitIn>();
                if (body.Length < FuseConstants.CompatInitInSize) break;
                Span<byte> padded = stackalloc byte[fullSize];
                padded.Clear();
                body[..Math.Min(body.Length, fullSize)].CopyTo(padded);
                var i = Read<FuseInitIn>(padded);
                ulong flags = i.Flags;
                if ((flags & (ulong)InitFlags.InitExt) != 0) flags |= (ulong)i.Flags2 << 32;
                return f.Init(h, new InitArgs { Major = i.Major, Minor = i.Minor, MaxReadahead = i.MaxReadahead, Flags = (InitFlags)flags });
            }
            case Opcode.Access:
                if (body.Length >= Unsafe.SizeOf<FuseAccessIn>()) return f.Access(h, new AccessArgs { Mask = Read<FuseAccessIn>(body).Mask });
                break;
            case Opcode.Create:
            {
                int fixedSize = Unsafe.SizeOf<FuseCreateIn>();
                if (body.Length >= fixedSize && Name(body[fixedSize..], out var n))
                {
                    var c = Read<FuseCreateIn>(body);
                    return f.Create(h, new CreateArgs
                    {
                        Name = n, Flags = (OpenFlags)c.Flags, Mode = c.Mode, Umask = c.Umask, KernelOpenFlags = (KernelOpenFlags)c.OpenFlags,
                    });
                }
                break;
            }
            case Opcode.Interrupt:
                if (body.Length >= Unsafe.SizeOf<FuseInterruptIn>()) return f.Interrupt(h, new InterruptArgs { TargetUnique = Read<FuseInterruptIn>(body).Unique });
                break;
            case Opcode.Destroy:
                return f.Destroy(h);
            case Opcode.Fallocate:
                if (body.Length >= Unsafe.SizeOf<FuseFallocateIn>())
                {
                    var fa = Read<FuseFallocateIn>(body);
                    return f.Fallocate(h, new FallocateArgs { Fh = fa.Fh, Offset = fa.Offset, Length = fa.Length, Mode = (FallocateFlags)fa.Mode });
                }
                break;
            case Opcode.Lseek:
                if (body.Length >= Unsafe.SizeOf<FuseLseekIn>())
                {
                    var l = Read<FuseLseekIn>(body);
                    return f.Lseek(h, new LseekArgs { Fh = l.Fh, Offset = l.Offset, Whence = l.Whence });
                }
                break;
            case Opcode.CopyFileRange or Opcode.CopyFileRange64:
                if (body.Length >= Unsafe.SizeOf<FuseCopyFileRangeIn>())
                {
                    var c = Read<FuseCopyFileRangeIn>(body);
                    return f.CopyFileRange(h, new CopyFileRangeArgs
                    {
                        Is64 = h.Opcode == (uint)Opcode.CopyFileRange64, FhIn = c.FhIn, OffsetIn = c.OffIn, NodeIdOut = c.NodeIdOut,
                        FhOut = c.FhOut, OffsetOut = c.OffOut, Length = c.Len, Flags = c.Flags,
                    });
                }
                break;
            case Opcode.NotifyReply:
            {
                int fixedSize = Unsafe.SizeOf<FuseNotifyRetrieveIn>();
                if (body.Length >= fixedSize)
                    return f.NotifyReply(h, new NotifyReplyArgs { Offset = Read<FuseNotifyRetrieveIn>(body).Offset, Data = body[fixedSize..].ToArray() });
                break;
            }
            default:
                return f.Unsupported(h);
        }
        return f.Malformed(h, $"{(Opcode)h.Opcode} body of {bodyLen} bytes is malformed");
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
