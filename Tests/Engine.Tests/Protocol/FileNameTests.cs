using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests.Protocol;

/// <summary>A name is its bytes: equal and hashed by bytes, shown unambiguously, made from text by UTF-8.</summary>
public sealed class FileNameTests
{
    private static FileName N(params byte[] bytes) => FileName.FromBytes(bytes);

    [Fact]
    public void Names_differing_only_in_invalid_UTF8_bytes_are_different_keys()
    {
        var e8 = N((byte)'c', (byte)'a', (byte)'f', 0xE8);
        var e9 = N((byte)'c', (byte)'a', (byte)'f', 0xE9);
        Assert.NotEqual(e8, e9);
        Assert.NotEqual(e8.ToString(), e9.ToString());
        var d = new Dictionary<FileName, int> { [e8] = 1, [e9] = 2 };
        Assert.Equal(2, d.Count);
        Assert.Equal(1, d[N((byte)'c', (byte)'a', (byte)'f', 0xE8)]);
        Assert.Equal(e8.GetHashCode(), N((byte)'c', (byte)'a', (byte)'f', 0xE8).GetHashCode());
    }

    [Fact]
    public void Text_converts_by_UTF8_and_compares_without_decoding()
    {
        FileName name = "żółw";
        Assert.Equal("żółw"u8.ToArray(), name.Bytes.ToArray());
        Assert.True(name.IsValidUtf8);
        Assert.Equal("żółw", name.ToUtf8String());
        Assert.Equal("żółw", name.ToString());
        Assert.True(name == "żółw");
        Assert.False(name == "zolw");
        Assert.True(N(0xFF) != "\uFFFD"); // the replacement character is not the byte
    }

    [Fact]
    public void Display_escapes_invalid_bytes_and_backslashes_only()
    {
        Assert.Equal("caf\\xe8", N((byte)'c', (byte)'a', (byte)'f', 0xE8).ToString());
        Assert.Equal("a\\x5cxe8", N((byte)'a', (byte)'\\', (byte)'x', (byte)'e', (byte)'8').ToString());
        Assert.Equal("é\\xff", N(0xC3, 0xA9, 0xFF).ToString());
        Assert.Null(N(0xFF).ToUtf8String());
        Assert.False(N(0xFF).IsValidUtf8);
    }

    [Fact]
    public void Validity_and_dots()
    {
        Assert.True(N((byte)'a').IsValid);
        Assert.False(default(FileName).IsValid);
        Assert.False(N((byte)'a', (byte)'/', (byte)'b').IsValid);
        Assert.False(N((byte)'a', 0).IsValid);
        Assert.True(N((byte)'.').IsDotOrDotDot);
        Assert.True(N((byte)'.', (byte)'.').IsDotOrDotDot);
        Assert.False(N((byte)'.', (byte)'.', (byte)'.').IsDotOrDotDot);
        Assert.True(N(1).CompareTo(N(0xFF)) < 0);
    }
}
