using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests.Protocol;

/// <summary>Dirent packing and parsing are each other's inverse, and the parser refuses what the kernel refuses
/// (fuse-protocol.md §2.3: name length 0 or above 1024, '/' in a name, a record past the end).</summary>
public sealed class DirentsTests
{
    /// <summary>Names around the 8-byte alignment edges, the longest allowed, and multi-byte UTF-8.</summary>
    private static readonly string[] Names =
    [
        "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", new string('x', 15), new string('y', 16), new string('z', 17),
        "..", ".", "Grüße", "名前", new string('n', 255), new string('m', FuseConstants.NameMax),
    ];

    [Fact]
    public void Dirents_round_trip_for_names_of_varied_lengths()
    {
        var b = Wire.Build();
        var expected = new List<Dirent>();
        int size = 0;
        for (int i = 0; i < Names.Length; i++)
        {
            var d = new Dirent((ulong)(100 + i), (ulong)(i + 1), (uint)(i % 2 == 0 ? 8 : 4), Names[i]);
            Dirents.Append(b, d.Ino, d.NextOffset, d.Type, d.Name);
            expected.Add(d);
            size += Dirents.Size(d.Name.Length);
            Assert.Equal(size, b.Length);
            Assert.Equal(0, b.Length % 8);
        }

        var parsed = new List<Dirent>();
        Assert.True(Dirents.TryParse(b.ToArray(), parsed));
        Assert.Equal(expected, parsed);
    }

    [Fact]
    public void DirentPlus_records_round_trip_for_names_of_varied_lengths()
    {
        var b = Wire.Build();
        var expected = new List<DirentPlus>();
        for (int i = 0; i < Names.Length; i++)
        {
            var e = new FuseEntryOut
            {
                NodeId = (ulong)(10 + i), Generation = 1, EntryValid = 5,
                Attr = new FuseAttr { Ino = (ulong)(200 + i), Mode = 0x81A4, Nlink = 1 },
            };
            Dirents.AppendPlus(b, e, (ulong)(i + 1), 8, Names[i]);
            // The record's ino is the entry's attribute inode number.
            expected.Add(new DirentPlus(e, new Dirent(e.Attr.Ino, (ulong)(i + 1), 8, Names[i])));
        }
        Assert.Equal(0, b.Length % 8);

        var parsed = new List<DirentPlus>();
        Assert.True(Dirents.TryParsePlus(b.ToArray(), parsed));
        Assert.Equal(expected.Count, parsed.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Dirent, parsed[i].Dirent);
            Assert.Equal(expected[i].Entry.NodeId, parsed[i].Entry.NodeId);
            Assert.Equal(expected[i].Entry.Attr.Ino, parsed[i].Entry.Attr.Ino);
            Assert.Equal(expected[i].Entry.Attr.Mode, parsed[i].Entry.Attr.Mode);
        }
    }

    [Fact]
    public void An_empty_buffer_is_no_records()
    {
        var parsed = new List<Dirent>();
        Assert.True(Dirents.TryParse(default, parsed));
        Assert.Empty(parsed);
    }

    [Fact]
    public void The_last_records_padding_may_be_cut_short()
    {
        var b = Wire.Build();
        Dirents.Append(b, 1, 1, 8, "abc");
        var bytes = b.ToArray()[..(Dirents.HeaderSize + 3)];
        var parsed = new List<Dirent>();
        Assert.True(Dirents.TryParse(bytes, parsed));
        Assert.Equal("abc", Assert.Single(parsed).Name);
    }

    public static IEnumerable<object[]> Malformations() =>
    [
        ["name length 0"], ["name length above NAME_MAX"], ["'/' in the name"], ["name past the end"], ["header cut short"],
    ];

    [Theory]
    [MemberData(nameof(Malformations))]
    public void A_malformed_dirent_is_refused_after_the_good_records(string how)
    {
        var bytes = GoodThenBad(Dirents.HeaderSize, how, plus: false);
        var parsed = new List<Dirent>();
        Assert.False(Dirents.TryParse(bytes, parsed));
        Assert.Equal("good", Assert.Single(parsed).Name);
    }

    [Theory]
    [MemberData(nameof(Malformations))]
    public void A_malformed_direntplus_is_refused_after_the_good_records(string how)
    {
        var bytes = GoodThenBad(Dirents.PlusHeaderSize, how, plus: true);
        var parsed = new List<DirentPlus>();
        Assert.False(Dirents.TryParsePlus(bytes, parsed));
        Assert.Equal("good", Assert.Single(parsed).Dirent.Name);
    }

    /// <summary>A valid record named "good", then one spoiled as <paramref name="how"/> says.</summary>
    private static byte[] GoodThenBad(int headerSize, string how, bool plus)
    {
        var b = Wire.Build();
        Append(b, plus, 1, "good");
        int badStart = b.Length;
        Append(b, plus, 2, how == "'/' in the name" ? "a/b" : "bad");
        var bytes = b.ToArray();
        var dirent = bytes.AsSpan(badStart + headerSize - Dirents.HeaderSize, Dirents.HeaderSize);
        ref var d = ref MemoryMarshal.AsRef<FuseDirent>(dirent);
        switch (how)
        {
            case "name length 0": d.NameLen = 0; break;
            case "name length above NAME_MAX": d.NameLen = FuseConstants.NameMax + 1; break;
            case "name past the end": d.NameLen = 64; break; // "bad" sits in an 8-byte slot at the end
            case "header cut short": return bytes[..(badStart + headerSize - 1)];
        }
        return bytes;
    }

    private static void Append(Wire.Builder b, bool plus, ulong next, string name)
    {
        if (plus) Dirents.AppendPlus(b, new FuseEntryOut { NodeId = 5, Attr = new FuseAttr { Ino = 5, Mode = 0x81A4 } }, next, 8, name);
        else Dirents.Append(b, 5, next, 8, name);
    }

    [Fact]
    public void Names_that_are_not_UTF8_round_trip_byte_for_byte()
    {
        byte[][] names = [[(byte)'c', (byte)'a', (byte)'f', 0xE8], [(byte)'c', (byte)'a', (byte)'f', 0xE9], [0xFF], [0xC3], [.. "ok"u8]];
        var b = Wire.Build();
        for (int i = 0; i < names.Length; i++) Dirents.Append(b, (ulong)i + 1, (ulong)i + 1, 8, FileName.FromBytes(names[i]));
        var parsed = new List<Dirent>();
        Assert.True(Dirents.TryParse(b.ToArray(), parsed));
        Assert.Equal(names, parsed.Select(d => d.Name.Bytes.ToArray()));
    }
}
