using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>Small helpers to encode and decode the FUSE wire format (native byte order, packed structs).</summary>
public static class FuseWire
{
    public static T Read<T>(ReadOnlySpan<byte> source) where T : unmanaged
    {
        if (source.Length >= Unsafe.SizeOf<T>()) return MemoryMarshal.Read<T>(source);
        // Short (variable-length) structs such as a short fuse_init_out: missing fields are zero.
        Span<byte> tmp = stackalloc byte[Unsafe.SizeOf<T>()];
        tmp.Clear();
        source.CopyTo(tmp);
        return MemoryMarshal.Read<T>(tmp);
    }

    public static byte[] Bytes<T>(in T value) where T : unmanaged
    {
        var b = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(b, in value);
        return b;
    }

    public static int SizeOf<T>() where T : unmanaged => Unsafe.SizeOf<T>();

    /// <summary>A NUL-terminated UTF-8 string.</summary>
    public static byte[] CString(string s)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, b);
        return b;
    }

    /// <summary>Reads the NUL-terminated string at the start of <paramref name="source"/> (the whole span if no NUL)
    /// and returns the number of bytes consumed, NUL included.</summary>
    public static string ReadCString(ReadOnlySpan<byte> source, out int consumed)
    {
        int nul = source.IndexOf((byte)0);
        if (nul < 0) { consumed = source.Length; return Encoding.UTF8.GetString(source); }
        consumed = nul + 1;
        return Encoding.UTF8.GetString(source[..nul]);
    }

    public static string ReadCString(ReadOnlySpan<byte> source) => ReadCString(source, out _);

    /// <summary>Builds a request or reply body from structs, names and raw bytes.</summary>
    public sealed class Builder
    {
        private readonly ArrayBufferWriter<byte> _w = new(64);
        public Builder Struct<T>(in T value) where T : unmanaged
        {
            var span = _w.GetSpan(Unsafe.SizeOf<T>());
            MemoryMarshal.Write(span, in value);
            _w.Advance(Unsafe.SizeOf<T>());
            return this;
        }
        /// <summary>The first <paramref name="length"/> bytes of a struct (e.g. the 8-byte fuse_setxattr_in).</summary>
        public Builder StructPrefix<T>(in T value, int length) where T : unmanaged
        {
            var all = Bytes(value);
            return Raw(all.AsSpan(0, length));
        }
        public Builder Name(string name) => Raw(CString(name));
        public Builder Raw(ReadOnlySpan<byte> bytes) { _w.Write(bytes); return this; }
        public Builder Zeros(int count) { var s = _w.GetSpan(count)[..count]; s.Clear(); _w.Advance(count); return this; }
        public int Length => _w.WrittenCount;
        public byte[] ToArray() => _w.WrittenSpan.ToArray();
    }

    public static Builder Build() => new();

    // ---------------------------------------------------------------- directory records

    public const int DirentHeaderSize = 24;
    public const int DirentPlusHeaderSize = 152;

    public static int DirentAlign(int n) => (n + 7) & ~7;

    /// <summary>Size of one packed fuse_dirent record for a name of <paramref name="nameBytes"/> bytes.</summary>
    public static int DirentSize(int nameBytes) => DirentAlign(DirentHeaderSize + nameBytes);

    /// <summary>Size of one packed fuse_direntplus record.</summary>
    public static int DirentPlusSize(int nameBytes) => DirentAlign(DirentPlusHeaderSize + nameBytes);

    /// <summary>Appends one fuse_dirent record (name without NUL, padded to 8 with zeros).</summary>
    public static void AppendDirent(Builder b, ulong ino, ulong nextOffset, uint type, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        b.Struct(new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)nameBytes.Length, Type = type });
        b.Raw(nameBytes);
        b.Zeros(DirentSize(nameBytes.Length) - DirentHeaderSize - nameBytes.Length);
    }

    /// <summary>Appends one fuse_direntplus record.</summary>
    public static void AppendDirentPlus(Builder b, in FuseEntryOut entry, ulong nextOffset, uint type, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        b.Struct(entry);
        b.Struct(new FuseDirent { Ino = entry.Attr.Ino, Off = nextOffset, NameLen = (uint)nameBytes.Length, Type = type });
        b.Raw(nameBytes);
        b.Zeros(DirentPlusSize(nameBytes.Length) - DirentPlusHeaderSize - nameBytes.Length);
    }

    /// <summary>Decodes packed fuse_dirent records. Returns false (as the kernel does with EIO) on a malformed record:
    /// a name length of 0 or above 1024, a '/' in a name, or a record running past the end.</summary>
    public static bool TryParseDirents(ReadOnlySpan<byte> data, List<VfsDirEntry> into)
    {
        while (data.Length > 0)
        {
            if (data.Length < DirentHeaderSize) return false;
            var d = MemoryMarshal.Read<FuseDirent>(data);
            if (d.NameLen == 0 || d.NameLen > FuseConstants.NameMax) return false;
            int size = DirentSize((int)d.NameLen);
            if (DirentHeaderSize + (int)d.NameLen > data.Length) return false;
            var name = data.Slice(DirentHeaderSize, (int)d.NameLen);
            if (name.IndexOf((byte)'/') >= 0) return false;
            into.Add(new VfsDirEntry(d.Ino, d.Off, d.Type, Encoding.UTF8.GetString(name)));
            data = data[Math.Min(size, data.Length)..];
        }
        return true;
    }

    /// <summary>Decodes packed fuse_direntplus records, stopping at the first malformed one (returns false then,
    /// with the good records before it in <paramref name="into"/>).</summary>
    public static bool TryParseDirentsPlus(ReadOnlySpan<byte> data, List<(FuseEntryOut Entry, VfsDirEntry Dirent)> into)
    {
        while (data.Length > 0)
        {
            if (data.Length < DirentPlusHeaderSize) return false;
            var p = MemoryMarshal.Read<FuseDirentPlus>(data);
            var d = p.Dirent;
            if (d.NameLen == 0 || d.NameLen > FuseConstants.NameMax) return false;
            if (DirentPlusHeaderSize + (int)d.NameLen > data.Length) return false;
            var name = data.Slice(DirentPlusHeaderSize, (int)d.NameLen);
            if (name.IndexOf((byte)'/') >= 0) return false;
            into.Add((p.EntryOut, new VfsDirEntry(d.Ino, d.Off, d.Type, Encoding.UTF8.GetString(name))));
            data = data[Math.Min(DirentPlusSize((int)d.NameLen), data.Length)..];
        }
        return true;
    }
}

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
