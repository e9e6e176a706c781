using System.Buffers;
using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// READDIR and READDIRPLUS. Add entries with <see cref="TryAdd"/> (or <see cref="TryAddPlus"/> when
/// <see cref="IsPlus"/>) until one returns false (the kernel's buffer is full), then <see cref="Reply"/>.
/// Each entry carries the cookie of the <em>next</em> entry; the kernel passes the last one back as
/// <see cref="Offset"/> to continue. An empty reply means end of directory. Never use 0 as a cookie.
/// For READDIRPLUS every added entry with a node id counts as a lookup (except "." and ".."),
/// so only count an entry once TryAddPlus returned true.
/// </summary>
public sealed class ReadDirRequest : FsRequest
{
    private byte[]? _buffer;
    private int _length;

    internal ReadDirArgs Args;
    public override Opcode Opcode => IsPlus ? Opcode.ReadDirPlus : Opcode.ReadDir;
    public bool IsPlus { get => Args.IsPlus; internal set => Args = Args with { IsPlus = value }; }
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    /// <summary>The cookie to continue after (0 at the start).</summary>
    public ulong Offset { get => Args.Offset; internal set => Args = Args with { Offset = value }; }
    /// <summary>The kernel's buffer size.</summary>
    public uint Size { get => Args.Size; internal set => Args = Args with { Size = value }; }
    /// <summary>Bytes used so far.</summary>
    public int Length => _length;

    /// <summary>Adds a READDIR record with the name's exact bytes. False when it does not fit (nothing was added).
    /// On a READDIRPLUS request it adds a record without entry data (node id 0: no lookup is counted), so a
    /// filesystem that only lists names still works when the kernel asks for READDIRPLUS.</summary>
    /// <exception cref="ArgumentException">The name is empty, longer than 1024 bytes or holds a '/' (the kernel would
    /// fail the whole listing).</exception>
    public bool TryAdd(ReadOnlySpan<byte> name, ulong ino, uint mode, ulong nextOffset)
    {
        if (IsPlus)
            return TryAddPlus(name, new Entry { Attr = new FuseAttr { Ino = ino, Mode = mode } }, nextOffset);
        CheckName(name);
        int rec = Dirents.Size(name.Length);
        if (!Reserve(rec)) return false;
        ReplyEncoder.Dirent(_buffer.AsSpan(_length, rec), ino, nextOffset, ModeBits.DirentType(mode), name);
        _length += rec;
        return true;
    }

    /// <summary>Adds a READDIR record (see <see cref="TryAdd(ReadOnlySpan{byte}, ulong, uint, ulong)"/>).</summary>
    public bool TryAdd(FileName name, ulong ino, uint mode, ulong nextOffset) => TryAdd(name.Bytes, ino, mode, nextOffset);

    /// <summary>Adds a READDIR record for a text name, UTF-8 encoded.</summary>
    public bool TryAdd(string name, ulong ino, uint mode, ulong nextOffset)
    {
        Span<byte> bytes = stackalloc byte[MaxStackName];
        return Encoding.UTF8.TryGetBytes(name, bytes, out int written)
            ? TryAdd(bytes[..written], ino, mode, nextOffset)
            : TryAdd(Encoding.UTF8.GetBytes(name), ino, mode, nextOffset);
    }

    /// <summary>Adds a READDIRPLUS record with the entry's attributes and the name's exact bytes. False when it does
    /// not fit. Use <c>default(Entry)</c> with only Attr.Mode/Ino set (NodeId 0) to give no lookup. Timeouts left
    /// null take the mount's configured entry/attr timeouts.</summary>
    /// <exception cref="ArgumentException">The name is empty, longer than 1024 bytes or holds a '/'.</exception>
    public bool TryAddPlus(ReadOnlySpan<byte> name, in Entry entry, ulong nextOffset, NegotiatedProtocol? settings = null)
    {
        CheckName(name);
        int rec = Dirents.PlusSize(name.Length);
        if (!Reserve(rec)) return false;
        ReplyEncoder.DirentPlus(_buffer.AsSpan(_length, rec), entry.ToWire(settings ?? Protocol ?? DefaultSettings), nextOffset,
            ModeBits.DirentType(entry.Attr.Mode), name);
        _length += rec;
        return true;
    }

    /// <summary>Adds a READDIRPLUS record (see <see cref="TryAddPlus(ReadOnlySpan{byte}, in Entry, ulong, NegotiatedProtocol?)"/>).</summary>
    public bool TryAddPlus(FileName name, in Entry entry, ulong nextOffset, NegotiatedProtocol? settings = null) =>
        TryAddPlus(name.Bytes, entry, nextOffset, settings);

    /// <summary>Adds a READDIRPLUS record for a text name, UTF-8 encoded.</summary>
    public bool TryAddPlus(string name, in Entry entry, ulong nextOffset, NegotiatedProtocol? settings = null)
    {
        Span<byte> bytes = stackalloc byte[MaxStackName];
        return Encoding.UTF8.TryGetBytes(name, bytes, out int written)
            ? TryAddPlus(bytes[..written], entry, nextOffset, settings)
            : TryAddPlus(Encoding.UTF8.GetBytes(name), entry, nextOffset, settings);
    }

    // A Linux name is at most 255 bytes; longer text goes through a heap array (and CheckName refuses it).
    private const int MaxStackName = 1024;

    /// <summary>The kernel's checks on a record's name (fs/fuse/readdir.c): one bad record fails the whole listing
    /// with EIO, and on READDIRPLUS the lookups of the records after it would be counted here and never forgotten
    /// there. A handler that adds one throws instead: the request is answered EIO, with the reason in the log.</summary>
    private static void CheckName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || name.Length > FuseConstants.NameMax || name.IndexOf((byte)'/') >= 0)
            throw new ArgumentException($"a directory entry's name must be 1 to {FuseConstants.NameMax} bytes without '/' (got {name.Length} bytes: {Encoding.UTF8.GetString(name[..Math.Min(name.Length, 64)])})", nameof(name));
    }

    /// <summary>Sends what was added (nothing = end of directory).</summary>
    public bool Reply() => Complete();

    internal static readonly NegotiatedProtocol DefaultSettings = new();

    private bool Reserve(int rec)
    {
        if (_length + rec > Size) return false;
        _buffer ??= ArrayPool<byte>.Shared.Rent((int)Math.Min(Size, 1u << 20));
        return _length + rec <= _buffer.Length;
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        _buffer is null ? default : ReplyEncoder.Data(scratch, _buffer.AsSpan(0, _length));

    internal override void ReleaseBuffers()
    {
        if (_buffer is { } b) { _buffer = null; if (!IsOrphaned) ArrayPool<byte>.Shared.Return(b); }
        base.ReleaseBuffers();
    }
}
