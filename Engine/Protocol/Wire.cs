using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace FuseActors.Engine.Protocol;

/// <summary>Encodes and decodes the FUSE wire format: native byte order, packed structs, NUL-terminated names.
/// Shared by the engine and the kernel side (VirtualDevice), so both speak through one codec.</summary>
public static class Wire
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

    /// <summary>A NUL-terminated byte string (a name, symlink target or xattr name as it is, never re-encoded).</summary>
    public static byte[] CString(ReadOnlySpan<byte> s)
    {
        var b = new byte[s.Length + 1];
        s.CopyTo(b);
        return b;
    }

    /// <summary>The bytes before the first NUL at the start of <paramref name="source"/> (the whole span if none),
    /// and the number consumed, NUL included.</summary>
    public static ReadOnlySpan<byte> ReadCBytes(ReadOnlySpan<byte> source, out int consumed)
    {
        int nul = source.IndexOf((byte)0);
        if (nul < 0) { consumed = source.Length; return source; }
        consumed = nul + 1;
        return source[..nul];
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
        /// <summary>A name's bytes and its NUL.</summary>
        public Builder Name(FileName name) => Name(name.Bytes);
        /// <summary>A NUL-terminated byte string (symlink target, xattr name).</summary>
        public Builder Name(ReadOnlySpan<byte> name) { _w.Write(name); _w.Write([(byte)0]); return this; }
        public Builder Raw(ReadOnlySpan<byte> bytes) { _w.Write(bytes); return this; }
        public Builder Zeros(int count) { var s = _w.GetSpan(count)[..count]; s.Clear(); _w.Advance(count); return this; }
        public int Length => _w.WrittenCount;
        public byte[] ToArray() => _w.WrittenSpan.ToArray();
    }

    public static Builder Build() => new();
}
