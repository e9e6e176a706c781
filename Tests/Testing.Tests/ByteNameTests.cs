using Akka.Actor;
using FsCheck.Xunit;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Testing.Tests;

/// <summary>One MemoryFs on the VirtualDevice for the whole class: the property runs many cases, each in its own
/// directory, and starting an engine per case would cost more than the case.</summary>
public sealed class ServedMemoryFsFixture : IAsyncLifetime
{
    public ActorSystem System { get; } = ActorSystem.Create("byte-names", FilesystemTestKit.QuietConfig);
    public ServedFilesystem Fs { get; private set; } = null!;
    private int _directories;

    public async Task InitializeAsync() => Fs = await ServedFilesystem.StartAsync(System, MemoryFs.Props());

    public async Task DisposeAsync()
    {
        await Fs.DisposeAsync();
        await System.Terminate();
    }

    /// <summary>A fresh directory under the root for one case: its name and node id (one lookup held).</summary>
    public async Task<(FileName Name, ulong Node)> FreshDirectoryAsync(string prefix)
    {
        FileName name = $"{prefix}{Interlocked.Increment(ref _directories)}";
        return (name, (await Fs.Client.MkDirAsync(VfsClient.RootId, name)).NodeId);
    }
}

/// <summary>
/// A Linux name is bytes, anything but '/' and NUL, not necessarily UTF-8 (issue 9, item 1). Decoded as UTF-8, every
/// invalid byte became U+FFFD, so distinct names collided and one file overwrote or refused another. These tests go
/// through the whole engine (VirtualDevice → parser → MemoryFs → reply encoder → dirent parser) and compare bytes.
/// </summary>
public sealed class ByteNameTests(ServedMemoryFsFixture fixture) : IClassFixture<ServedMemoryFsFixture>
{
    /// <summary>Linux's NAME_MAX (MemoryFs's limit; the protocol's dirent limit is larger).</summary>
    private const int NameMax = 255;

    private VfsClient Client => fixture.Fs.Client;

    /// <summary>Turns arbitrary bytes into a valid name of 1..255 bytes: NUL and '/' are replaced (by bytes that are
    /// not UTF-8 on their own), "." and ".." get a suffix, and <paramref name="stretch"/> repeats the bytes so long
    /// names up to NAME_MAX come up too.</summary>
    private static byte[] ToName(byte[]? raw, int stretch)
    {
        raw = raw is { Length: > 0 } ? raw : [0x80];
        int length = Math.Min(NameMax, raw.Length * (1 + (stretch & 63)));
        var name = new byte[length];
        for (int i = 0; i < length; i++)
        {
            byte b = raw[i % raw.Length];
            name[i] = b switch { 0 => 0x80, (byte)'/' => 0xFF, _ => b };
        }
        if (name is [(byte)'.'] or [(byte)'.', (byte)'.']) name = [.. name, 0xFE];
        return name;
    }

    private static byte[] ContentOf(byte[] name, int index) => [.. "content of "u8, .. name, (byte)index];

    private static HashSet<FileName> NamesIn(IEnumerable<VfsDirEntry> entries)
    {
        var set = new HashSet<FileName>();
        foreach (var e in entries)
            if (!e.Name.IsDotOrDotDot) Assert.True(set.Add(e.Name), $"{e.Name} listed twice");
        return set;
    }

    private async Task<IReadOnlyList<VfsDirEntry>> ListAsync(ulong dir)
    {
        var h = await Client.OpenDirAsync(dir);
        try { return await Client.ReadDirAllAsync(h); }
        finally { await Client.ReleaseDirAsync(h); }
    }

    private async Task<byte[]> ReadAsync(ulong dir, FileName name)
    {
        var e = await Client.LookupAsync(dir, name);
        try
        {
            var h = await Client.OpenAsync(e.NodeId, Posix.O_RDONLY);
            try { return await Client.ReadAsync(h, 0, 4096); }
            finally { await Client.ReleaseAsync(h); }
        }
        finally { Client.Forget(e.NodeId); }
    }

    [Property(MaxTest = 60, EndSize = 40)]
    public void Arbitrary_byte_names_are_created_listed_opened_renamed_and_unlinked_byte_for_byte(byte[][] raw, int stretch) =>
        RoundTripAsync(raw, stretch).GetAwaiter().GetResult();

    private async Task RoundTripAsync(byte[][] raw, int stretch)
    {
        var names = new List<FileName>();
        var distinct = new HashSet<FileName>();
        for (int i = 0; i < (raw?.Length ?? 0); i++)
        {
            var n = FileName.FromBytes(ToName(raw![i], stretch + i));
            if (distinct.Add(n)) names.Add(n);
        }
        var (fromName, from) = await fixture.FreshDirectoryAsync("from");
        var (toName, to) = await fixture.FreshDirectoryAsync("to");

        // Create: every distinct byte string is its own file, even with O_EXCL.
        for (int i = 0; i < names.Count; i++)
        {
            var c = await Client.CreateAsync(from, names[i], Posix.O_RDWR | Posix.O_CREAT | Posix.O_EXCL);
            Assert.Equal(ContentOf(names[i].Bytes.ToArray(), i).Length,
                await Client.WriteAsync(c.Handle, 0, ContentOf(names[i].Bytes.ToArray(), i)));
            await Client.ReleaseAsync(c.Handle);
            Client.Forget(c.Entry.NodeId);
        }

        // List: exactly those names, byte for byte.
        Assert.True(distinct.SetEquals(NamesIn(await ListAsync(from))));

        // Open by the listed bytes: each file has its own content.
        for (int i = 0; i < names.Count; i++)
            Assert.Equal(ContentOf(names[i].Bytes.ToArray(), i), await ReadAsync(from, names[i]));

        // Rename into another directory under the same bytes, and read back there.
        foreach (var n in names) await Client.RenameAsync(from, n, to, n);
        Assert.Empty(NamesIn(await ListAsync(from)));
        Assert.True(distinct.SetEquals(NamesIn(await ListAsync(to))));
        for (int i = 0; i < names.Count; i++)
            Assert.Equal(ContentOf(names[i].Bytes.ToArray(), i), await ReadAsync(to, names[i]));

        // Unlink each by its bytes: nothing else goes with it.
        for (int i = 0; i < names.Count; i++)
        {
            await Client.UnlinkAsync(to, names[i]);
            Assert.Equal(names.Count - i - 1, NamesIn(await ListAsync(to)).Count);
        }
        await Client.RmDirAsync(VfsClient.RootId, fromName);
        await Client.RmDirAsync(VfsClient.RootId, toName);
        Client.Forget(from);
        Client.Forget(to);
    }

    [Fact]
    public async Task Names_that_decode_to_the_same_text_are_two_files_even_with_O_EXCL()
    {
        var (dirName, dir) = await fixture.FreshDirectoryAsync("excl");
        var ff = FileName.FromBytes([(byte)'x', 0xFF]);
        var fe = FileName.FromBytes([(byte)'x', 0xFE]);
        Assert.NotEqual(ff, fe);

        var a = await Client.CreateAsync(dir, ff, Posix.O_RDWR | Posix.O_CREAT | Posix.O_EXCL);
        await Client.WriteAsync(a.Handle, 0, "ff"u8.ToArray());
        var b = await Client.CreateAsync(dir, fe, Posix.O_RDWR | Posix.O_CREAT | Posix.O_EXCL);
        await Client.WriteAsync(b.Handle, 0, "fe"u8.ToArray());
        Assert.NotEqual(a.Entry.NodeId, b.Entry.NodeId);
        foreach (var c in new[] { a, b }) { await Client.ReleaseAsync(c.Handle); Client.Forget(c.Entry.NodeId); }

        var listed = NamesIn(await ListAsync(dir));
        Assert.Equal(2, listed.Count);
        Assert.Contains(ff, listed);
        Assert.Contains(fe, listed);
        Assert.Equal("ff"u8.ToArray(), await ReadAsync(dir, ff));
        Assert.Equal("fe"u8.ToArray(), await ReadAsync(dir, fe));

        // The same through the path client, whose byte paths reach the same files.
        Assert.Equal("ff"u8.ToArray(), await fixture.Fs.Files.ReadAllBytesAsync([.. dirName.Bytes, (byte)'/', (byte)'x', 0xFF]));
    }

    [Fact]
    public async Task Symlink_targets_and_xattr_names_round_trip_byte_for_byte()
    {
        var (_, dir) = await fixture.FreshDirectoryAsync("link");
        byte[] target = [(byte)'c', (byte)'a', (byte)'f', 0xE8, (byte)'/', 0xC3, (byte)'x'];
        var link = await Client.SymlinkAsync(dir, FileName.FromBytes([(byte)'l', 0xE9]), target);
        Assert.Equal(target, await Client.ReadLinkBytesAsync(link.NodeId));

        byte[] e8 = [.. "user.caf"u8, 0xE8], e9 = [.. "user.caf"u8, 0xE9];
        var file = await Client.CreateAsync(dir, "f");
        await Client.SetXAttrAsync(file.Entry.NodeId, e8, "e8"u8.ToArray());
        await Client.SetXAttrAsync(file.Entry.NodeId, e9, "e9"u8.ToArray(), flags: 1 /* XATTR_CREATE: must not collide */);
        Assert.Equal("e8"u8.ToArray(), await Client.GetXAttrAsync(file.Entry.NodeId, e8));
        Assert.Equal("e9"u8.ToArray(), await Client.GetXAttrAsync(file.Entry.NodeId, e9));
        var names = await Client.ListXAttrBytesAsync(file.Entry.NodeId);
        Assert.Equal(2, names.Count);
        Assert.Contains(names, n => n.AsSpan().SequenceEqual(e8));
        Assert.Contains(names, n => n.AsSpan().SequenceEqual(e9));
        await Client.RemoveXAttrAsync(file.Entry.NodeId, e8);
        Assert.Equal("e9"u8.ToArray(), await Client.GetXAttrAsync(file.Entry.NodeId, e9));
        await Client.ReleaseAsync(file.Handle);
        Client.Forget(file.Entry.NodeId);
        Client.Forget(link.NodeId);
    }

    [Fact]
    public async Task A_name_of_NAME_MAX_bytes_works_and_one_more_is_refused()
    {
        var (_, dir) = await fixture.FreshDirectoryAsync("long");
        var longest = FileName.FromBytes(Enumerable.Repeat((byte)0xF5, NameMax).ToArray());
        var c = await Client.CreateAsync(dir, longest);
        await Client.ReleaseAsync(c.Handle);
        Client.Forget(c.Entry.NodeId);
        Assert.Equal(longest, Assert.Single(NamesIn(await ListAsync(dir))));
        var tooLong = FileName.FromBytes(Enumerable.Repeat((byte)0xF5, NameMax + 1).ToArray());
        var e = await Assert.ThrowsAsync<FuseErrnoException>(() => Client.CreateAsync(dir, tooLong));
        Assert.Equal(Errno.ENAMETOOLONG, e.Errno);
    }
}
