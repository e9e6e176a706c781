using System.Runtime.InteropServices;

namespace FuseActors.Engine.Protocol;

/// <summary>One directory record as READDIR carries it: inode number, the cookie of the <em>next</em> record, the
/// DT_* type and the name.</summary>
public readonly record struct Dirent(ulong Ino, ulong NextOffset, uint Type, FileName Name);

/// <summary>One READDIRPLUS record: the entry (as a LOOKUP reply would give it) and the directory record.</summary>
public readonly record struct DirentPlus(FuseEntryOut Entry, Dirent Dirent);

/// <summary>
/// Packs and parses the directory records of READDIR (<c>fuse_dirent</c>) and READDIRPLUS (<c>fuse_direntplus</c>),
/// side by side so the two stay each other's inverse. A record is the fixed struct, the name without NUL, and zeros up
/// to the next multiple of 8 (<c>FUSE_DIRENT_ALIGN</c>).
/// </summary>
public static class Dirents
{
    /// <summary>Where the name starts in a fuse_dirent record (<c>FUSE_NAME_OFFSET</c>).</summary>
    public const int HeaderSize = 24;
    /// <summary>Where the name starts in a fuse_direntplus record (<c>FUSE_NAME_OFFSET_DIRENTPLUS</c>).</summary>
    public const int PlusHeaderSize = 152;

    public static int Align(int n) => (n + 7) & ~7;

    /// <summary>Size of one packed fuse_dirent record for a name of <paramref name="nameBytes"/> bytes.</summary>
    public static int Size(int nameBytes) => Align(HeaderSize + nameBytes);

    /// <summary>Size of one packed fuse_direntplus record.</summary>
    public static int PlusSize(int nameBytes) => Align(PlusHeaderSize + nameBytes);

    // ---------------------------------------------------------------- packing

    /// <summary>Appends one fuse_dirent record (name without NUL, padded to 8 with zeros).</summary>
    public static void Append(Wire.Builder b, ulong ino, ulong nextOffset, uint type, FileName name)
    {
        var nameBytes = name.Bytes;
        b.Struct(new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)nameBytes.Length, Type = type });
        b.Raw(nameBytes);
        b.Zeros(Size(nameBytes.Length) - HeaderSize - nameBytes.Length);
    }

    /// <summary>Appends one fuse_direntplus record; its <c>ino</c> is the entry's attribute inode number.</summary>
    public static void AppendPlus(Wire.Builder b, in FuseEntryOut entry, ulong nextOffset, uint type, FileName name)
    {
        var nameBytes = name.Bytes;
        b.Struct(entry);
        b.Struct(new FuseDirent { Ino = entry.Attr.Ino, Off = nextOffset, NameLen = (uint)nameBytes.Length, Type = type });
        b.Raw(nameBytes);
        b.Zeros(PlusSize(nameBytes.Length) - PlusHeaderSize - nameBytes.Length);
    }

    // ---------------------------------------------------------------- parsing

    /// <summary>Decodes packed fuse_dirent records. Returns false (the kernel fails the readdir with EIO) at the first
    /// malformed record — a name length of 0 or above 1024, a '/' in a name, or a record running past the end — with
    /// the good records before it in <paramref name="into"/>. The last record's padding may be cut short, as the
    /// kernel allows.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, List<Dirent> into)
    {
        while (data.Length > 0)
        {
            if (data.Length < HeaderSize) return false;
            var d = MemoryMarshal.Read<FuseDirent>(data);
            if (!TryName(data, HeaderSize, d.NameLen, out var name)) return false;
            into.Add(new Dirent(d.Ino, d.Off, d.Type, name));
            data = data[Math.Min(Size((int)d.NameLen), data.Length)..];
        }
        return true;
    }

    /// <summary>Decodes packed fuse_direntplus records, with the same rules as <see cref="TryParse"/>.</summary>
    public static bool TryParsePlus(ReadOnlySpan<byte> data, List<DirentPlus> into)
    {
        while (data.Length > 0)
        {
            if (data.Length < PlusHeaderSize) return false;
            var p = MemoryMarshal.Read<FuseDirentPlus>(data);
            var d = p.Dirent;
            if (!TryName(data, PlusHeaderSize, d.NameLen, out var name)) return false;
            into.Add(new DirentPlus(p.EntryOut, new Dirent(d.Ino, d.Off, d.Type, name)));
            data = data[Math.Min(PlusSize((int)d.NameLen), data.Length)..];
        }
        return true;
    }

    /// <summary>The kernel's checks on a record's name (fs/fuse/readdir.c): 1..NAME_MAX bytes, inside the buffer,
    /// no '/'.</summary>
    private static bool TryName(ReadOnlySpan<byte> record, int offset, uint nameLen, out FileName name)
    {
        name = default;
        if (nameLen == 0 || nameLen > FuseConstants.NameMax) return false;
        if (offset + (int)nameLen > record.Length) return false;
        var bytes = record.Slice(offset, (int)nameLen);
        if (bytes.IndexOf((byte)'/') >= 0) return false;
        name = FileName.OwnUnchecked(bytes.ToArray());
        return true;
    }
}
