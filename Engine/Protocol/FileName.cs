using System.Text;
using System.Text.Unicode;

namespace FuseActors.Engine.Protocol;

/// <summary>
/// One directory entry's name as Linux has it: bytes, anything but '/' and NUL, not necessarily UTF-8. Equality and
/// hashing are over the exact bytes, so two names that differ only in bytes that are not valid UTF-8 (<c>caf\xe8</c>
/// and <c>caf\xe9</c>) stay two names; decoding them to <see cref="string"/> would turn both into <c>caf\uFFFD</c>
/// and lose a file. <see cref="ToString"/> is for display only (invalid bytes shown as <c>\xNN</c>); never look a
/// name up by it. A <see cref="string"/> converts implicitly (UTF-8 encoded) for authors with text names.
/// The default value is the empty name, which no request carries. The request parser never hands a filesystem a
/// name holding '/' or NUL (the kernel sends none); a FileName built by code may hold them (so a filesystem's own
/// checks stay testable), and <see cref="IsValid"/> says whether it does.
/// </summary>
public readonly struct FileName : IEquatable<FileName>, IComparable<FileName>
{
    private readonly byte[]? _bytes;

    private FileName(byte[] bytes) => _bytes = bytes;

    /// <summary>The exact bytes, without a NUL.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The bytes as memory (for APIs that need more than a span).</summary>
    public ReadOnlyMemory<byte> Memory => _bytes;

    public int Length => _bytes?.Length ?? 0;
    public bool IsEmpty => Length == 0;

    /// <summary>True when the bytes are valid UTF-8, i.e. <see cref="ToString"/> is the name itself.</summary>
    public bool IsValidUtf8 => Utf8.IsValid(Bytes);

    /// <summary>True when the name can be one directory entry's name: not empty, no NUL and no '/'. ("." and ".."
    /// are valid bytes; what they mean is the filesystem's business.)</summary>
    public bool IsValid => Length > 0 && Bytes.IndexOfAny((byte)0, (byte)'/') < 0;

    /// <summary>"." or "..": the names a directory listing carries that are no entries of their own.</summary>
    public bool IsDotOrDotDot
    {
        get
        {
            var b = Bytes;
            return (b.Length == 1 && b[0] == (byte)'.') || (b.Length == 2 && b[0] == (byte)'.' && b[1] == (byte)'.');
        }
    }

    /// <summary>A name holding a copy of <paramref name="bytes"/>.</summary>
    public static FileName FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray());

    /// <summary>Takes <paramref name="bytes"/> without copying; the caller gives up the array and has checked it
    /// (the request parser, which already found the NUL, and the kernel half's dirent parser).</summary>
    internal static FileName OwnUnchecked(byte[] bytes) => new(bytes);

    /// <summary>The UTF-8 encoding of <paramref name="name"/> (a lone surrogate becomes U+FFFD, as .NET encodes it).</summary>
    public static FileName FromString(string name) => new(Encoding.UTF8.GetBytes(name));

    public static implicit operator FileName(string name) => FromString(name);

    /// <summary>The name decoded as UTF-8 when <see cref="IsValidUtf8"/>; otherwise null (so no caller mistakes a
    /// lossy decoding for the name).</summary>
    public string? ToUtf8String() => IsValidUtf8 ? Encoding.UTF8.GetString(Bytes) : null;

    /// <summary>For display and logs: the UTF-8 text, with each byte that is not part of valid UTF-8 (and each
    /// backslash) written as <c>\xNN</c>, so distinct names always display differently. Not for lookups.</summary>
    public override string ToString() => Display(Bytes);

    /// <summary>The display form of any byte string (names, symlink targets, xattr names): see <see cref="ToString"/>.</summary>
    public static string Display(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IndexOf((byte)'\\') < 0 && Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        var sb = new StringBuilder(bytes.Length + 8);
        while (!bytes.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes, out var rune, out int consumed);
            if (status == System.Buffers.OperationStatus.Done && rune.Value != '\\') sb.Append(rune.ToString());
            else
            {
                consumed = 1;
                sb.Append("\\x").Append(bytes[0].ToString("x2"));
            }
            bytes = bytes[consumed..];
        }
        return sb.ToString();
    }

    public bool Equals(FileName other) => Bytes.SequenceEqual(other.Bytes);
    public override bool Equals(object? obj) => obj is FileName other && Equals(other);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(Bytes);
        return h.ToHashCode();
    }

    /// <summary>Byte order (what <c>ls</c> shows under LC_ALL=C).</summary>
    public int CompareTo(FileName other) => Bytes.SequenceCompareTo(other.Bytes);

    public static bool operator ==(FileName a, FileName b) => a.Equals(b);
    public static bool operator !=(FileName a, FileName b) => !a.Equals(b);

    /// <summary>Compares with the UTF-8 encoding of <paramref name="text"/> without allocating (for handlers that
    /// test <c>r.Name == "hello"</c>).</summary>
    public bool EqualsUtf8(string text)
    {
        var bytes = Bytes;
        if (text.Length > bytes.Length || bytes.Length > text.Length * 3) return false;
        Span<byte> buffer = bytes.Length <= 256 ? stackalloc byte[256] : new byte[bytes.Length * 3];
        return Encoding.UTF8.TryGetBytes(text, buffer, out int written)
            && buffer[..written].SequenceEqual(bytes);
    }

    public static bool operator ==(FileName a, string b) => a.EqualsUtf8(b);
    public static bool operator !=(FileName a, string b) => !a.EqualsUtf8(b);
}

/// <summary>Byte equality for <c>byte[]</c> keys (xattr names and other byte strings that may hold '/').</summary>
public sealed class ByteStringComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteStringComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(byte[] obj)
    {
        var h = new HashCode();
        h.AddBytes(obj);
        return h.ToHashCode();
    }
}
