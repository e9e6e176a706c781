using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.PosixBehaviour;

/// <summary>
/// POSIX behaviour of a filesystem, written once against <see cref="IPosixDriver"/>. Subclasses pick the filesystem
/// and the path to it: served on the in-process VirtualDevice (no root) or mounted through /dev/fuse. Running the same
/// tests on both keeps the VirtualDevice honest: a filesystem that passes here passes on Linux, and the reverse.
/// Only what the filesystem itself decides is tested (no kernel permission checks: the VirtualDevice has no
/// default_permissions).
/// </summary>
public abstract class PosixBehaviourTests
{
    protected const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200;
    protected const int SEEK_DATA = 3, SEEK_HOLE = 4;
    protected const uint S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFLNK = 0xA000, S_ISGID = 0x400;
    protected const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2;
    protected const int XATTR_CREATE = 1, XATTR_REPLACE = 2;

    /// <summary>Starts the filesystem (fresh and empty) and returns a driver for it; disposing stops it.</summary>
    protected abstract Task<IPosixDriver> StartAsync();

    protected static async Task<Errno> ErrnoOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<FuseErrnoException>(call);
        return e.Errno;
    }

    protected static async Task WriteFileAsync(IPosixDriver fs, string path, string text)
    {
        await using var f = await fs.OpenAsync(path, O_CREAT | O_WRONLY);
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal(bytes.Length, await f.PWriteAsync(0, bytes));
    }

    protected static async Task<string> ReadFileAsync(IPosixDriver fs, string path)
    {
        await using var f = await fs.OpenAsync(path, O_RDONLY);
        var size = (await f.FStatAsync()).Size;
        return Encoding.UTF8.GetString(await f.PReadAsync(0, (int)size + 16));
    }

    /// <summary>Waits for what the filesystem does after a call returns (RELEASE and FORGET travel in the background).</summary>
    protected static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"never happened: {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Created_file_reads_back_what_was_written_with_its_size_and_type()
    {
        await using var fs = await StartAsync();
        await using (var f = await fs.OpenAsync("hello.txt", O_CREAT | O_EXCL | O_RDWR, 0x1A4))
        {
            Assert.Equal(11, await f.PWriteAsync(0, "hello world"u8.ToArray()));
            Assert.Equal(5, await f.PWriteAsync(6, "there"u8.ToArray()));
            Assert.Equal("hello there", Encoding.UTF8.GetString(await f.PReadAsync(0, 100)));
            Assert.Equal("there", Encoding.UTF8.GetString(await f.PReadAsync(6, 5)));
            Assert.Empty(await f.PReadAsync(11, 10)); // at the end of the file
            Assert.Equal(11, (await f.FStatAsync()).Size);
        }
        var st = await fs.LstatAsync("hello.txt");
        Assert.Equal((S_IFREG, 0x1A4u, 1UL, 11L), (st.Type, st.Permissions, st.Nlink, st.Size));
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => fs.OpenAsync("hello.txt", O_CREAT | O_EXCL | O_RDWR)));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.OpenAsync("missing", O_RDONLY)));
    }

    [Fact]
    public async Task Directories_are_made_and_removed_with_EEXIST_ENOTEMPTY_and_ENOTDIR_where_due()
    {
        await using var fs = await StartAsync();
        await fs.MkDirAsync("d", 0x1ED);
        Assert.Equal((S_IFDIR, 0x1EDu), ((await fs.LstatAsync("d")).Type, (await fs.LstatAsync("d")).Permissions));
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => fs.MkDirAsync("d", 0x1ED)));
        // A name over NAME_MAX is refused as such, also in a directory just made (whose every name is known).
        Assert.Equal(Errno.ENAMETOOLONG, await ErrnoOf(() => fs.LstatAsync("d/" + new string('n', 256))));
        await WriteFileAsync(fs, "d/f", "x");
        Assert.Equal(Errno.ENOTEMPTY, await ErrnoOf(() => fs.RmDirAsync("d")));
        Assert.Equal(Errno.ENOTDIR, await ErrnoOf(() => fs.RmDirAsync("d/f")));
        Assert.Equal(Errno.EISDIR, await ErrnoOf(() => fs.UnlinkAsync("d")));
        await fs.UnlinkAsync("d/f");
        await fs.RmDirAsync("d");
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.LstatAsync("d")));
    }

    [Fact]
    public async Task Rename_replaces_its_target_and_with_NOREPLACE_refuses_an_existing_one()
    {
        await using var fs = await StartAsync();
        await WriteFileAsync(fs, "a", "A");
        await WriteFileAsync(fs, "b", "B");
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => fs.RenameAsync("a", "b", RENAME_NOREPLACE)));
        Assert.Equal(("A", "B"), (await ReadFileAsync(fs, "a"), await ReadFileAsync(fs, "b")));

        await fs.RenameAsync("a", "c", RENAME_NOREPLACE); // a free name: allowed
        await fs.RenameAsync("c", "b");                   // plain rename replaces
        Assert.Equal("A", await ReadFileAsync(fs, "b"));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.LstatAsync("a")));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.LstatAsync("c")));
    }

    [Fact]
    public async Task Rename_of_directories_refuses_moving_into_itself_and_replacing_a_non_empty_one()
    {
        await using var fs = await StartAsync();
        await fs.MkDirAsync("a", 0x1ED);
        await fs.MkDirAsync("a/inner", 0x1ED);
        await fs.MkDirAsync("full", 0x1ED);
        await WriteFileAsync(fs, "full/x", "x");
        await fs.MkDirAsync("empty", 0x1ED);
        await WriteFileAsync(fs, "file", "f");

        Assert.Equal(Errno.EINVAL, await ErrnoOf(() => fs.RenameAsync("a", "a/inner/a")));
        Assert.Equal(Errno.ENOTEMPTY, await ErrnoOf(() => fs.RenameAsync("a", "full")));
        Assert.Equal(Errno.EISDIR, await ErrnoOf(() => fs.RenameAsync("file", "empty")));
        Assert.Equal(Errno.ENOTDIR, await ErrnoOf(() => fs.RenameAsync("empty", "file")));

        var ino = (await fs.LstatAsync("a")).Ino;
        await fs.RenameAsync("a", "empty"); // an empty directory may be replaced
        Assert.Equal(ino, (await fs.LstatAsync("empty")).Ino);
        Assert.Equal(S_IFDIR, (await fs.LstatAsync("empty/inner")).Type);
    }

    [Fact]
    public async Task Open_with_O_TRUNC_empties_an_existing_file()
    {
        await using var fs = await StartAsync();
        await WriteFileAsync(fs, "f", "some old contents");
        await using (var f = await fs.OpenAsync("f", O_WRONLY | O_TRUNC))
            Assert.Equal(0, (await f.FStatAsync()).Size);
        Assert.Equal("", await ReadFileAsync(fs, "f"));
    }

    [Fact]
    public async Task Rename_EXCHANGE_swaps_two_names_and_needs_both()
    {
        await using var fs = await StartAsync();
        await fs.MkDirAsync("d", 0x1ED);
        await WriteFileAsync(fs, "file", "contents");
        var fileIno = (await fs.LstatAsync("file")).Ino;
        var dirIno = (await fs.LstatAsync("d")).Ino;

        await fs.RenameAsync("file", "d", RENAME_EXCHANGE);
        Assert.Equal((fileIno, S_IFREG), ((await fs.LstatAsync("d")).Ino, (await fs.LstatAsync("d")).Type));
        Assert.Equal((dirIno, S_IFDIR), ((await fs.LstatAsync("file")).Ino, (await fs.LstatAsync("file")).Type));
        Assert.Equal("contents", await ReadFileAsync(fs, "d"));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.RenameAsync("d", "nothing", RENAME_EXCHANGE)));
    }

    [Fact]
    public async Task Hard_link_shares_the_inode_and_outlives_the_other_name()
    {
        await using var fs = await StartAsync();
        await fs.MkDirAsync("sub", 0x1ED);
        await WriteFileAsync(fs, "orig", "shared");
        await fs.LinkAsync("orig", "sub/alias");
        var a = await fs.LstatAsync("orig");
        var b = await fs.LstatAsync("sub/alias");
        Assert.Equal(a.Ino, b.Ino);
        Assert.Equal(2UL, b.Nlink);

        await fs.UnlinkAsync("orig");
        Assert.Equal(1UL, (await fs.LstatAsync("sub/alias")).Nlink);
        Assert.Equal("shared", await ReadFileAsync(fs, "sub/alias"));
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => fs.LinkAsync("sub", "dirlink"))); // no hard links to directories
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => fs.LinkAsync("sub/alias", "sub/alias")));
    }

    [Fact]
    public async Task Symlink_keeps_its_target_verbatim_and_lstat_shows_the_link_itself()
    {
        await using var fs = await StartAsync();
        await fs.SymlinkAsync("../somewhere/else", "ln");
        Assert.Equal("../somewhere/else", await fs.ReadLinkAsync("ln"));
        var st = await fs.LstatAsync("ln");
        Assert.Equal((S_IFLNK, 17L), (st.Type, st.Size));
        await WriteFileAsync(fs, "plain", "x");
        Assert.Equal(Errno.EINVAL, await ErrnoOf(() => fs.ReadLinkAsync("plain")));
    }

    [Fact]
    public async Task Xattrs_probe_size_with_0_give_ERANGE_when_short_and_honour_CREATE_and_REPLACE()
    {
        await using var fs = await StartAsync();
        await WriteFileAsync(fs, "f", "x");
        var value = "a value"u8.ToArray();
        await fs.SetXAttrAsync("f", "user.one", value);
        await fs.SetXAttrAsync("f", "user.two", []);

        Assert.Equal(value.Length, await fs.GetXAttrSizeAsync("f", "user.one"));
        Assert.Equal(Errno.ERANGE, await ErrnoOf(() => fs.GetXAttrAsync("f", "user.one", value.Length - 1)));
        Assert.Equal(value, await fs.GetXAttrAsync("f", "user.one", value.Length));
        Assert.Equal(0, await fs.GetXAttrSizeAsync("f", "user.two"));
        Assert.Equal("user.one\0user.two\0".Length, await fs.ListXAttrSizeAsync("f"));
        Assert.Equal(["user.one", "user.two"], (await fs.ListXAttrAsync("f")).Order());

        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => fs.SetXAttrAsync("f", "user.one", value, XATTR_CREATE)));
        Assert.Equal(Errno.ENODATA, await ErrnoOf(() => fs.SetXAttrAsync("f", "user.three", value, XATTR_REPLACE)));
        await fs.SetXAttrAsync("f", "user.one", "new"u8.ToArray(), XATTR_REPLACE);
        Assert.Equal("new"u8.ToArray(), await fs.GetXAttrAsync("f", "user.one", 64));

        await fs.RemoveXAttrAsync("f", "user.one");
        Assert.Equal(Errno.ENODATA, await ErrnoOf(() => fs.GetXAttrSizeAsync("f", "user.one")));
        Assert.Equal(Errno.ENODATA, await ErrnoOf(() => fs.RemoveXAttrAsync("f", "user.one")));
        Assert.Equal(["user.two"], await fs.ListXAttrAsync("f"));
    }

    [Fact]
    public async Task Truncate_shrinks_and_grows_with_zeros_and_never_shows_stale_data()
    {
        await using var fs = await StartAsync();
        await WriteFileAsync(fs, "t", "0123456789");
        await fs.TruncateAsync("t", 4);
        Assert.Equal("0123", await ReadFileAsync(fs, "t"));
        await fs.TruncateAsync("t", 8);
        Assert.Equal(8, (await fs.LstatAsync("t")).Size);
        await using var f = await fs.OpenAsync("t", O_RDONLY);
        Assert.Equal("0123\0\0\0\0"u8.ToArray(), await f.PReadAsync(0, 100));
    }

    [Fact]
    public async Task Sparse_file_reads_zeros_in_its_hole_and_lseek_finds_data_and_holes()
    {
        await using var fs = await StartAsync();
        const long far = 1 << 20;
        await using var f = await fs.OpenAsync("sparse", O_CREAT | O_RDWR);
        Assert.Equal(1, await f.PWriteAsync(far, [42]));
        Assert.Equal(far + 1, (await f.FStatAsync()).Size);
        Assert.All(await f.PReadAsync(4096, 8192), b => Assert.Equal(0, b));
        Assert.Equal([42], await f.PReadAsync(far, 10));

        Assert.Equal(0, await f.SeekAsync(0, SEEK_HOLE));
        Assert.Equal(far, await f.SeekAsync(0, SEEK_DATA));
        Assert.Equal(far + 1, await f.SeekAsync(far, SEEK_HOLE)); // the end of the file counts as a hole
        Assert.Equal(Errno.ENXIO, await ErrnoOf(() => f.SeekAsync(far + 1, SEEK_DATA)));
    }

    [Fact]
    public async Task Readdir_cookies_stay_valid_when_entries_are_removed_during_a_listing()
    {
        await using var fs = await StartAsync();
        await fs.MkDirAsync("d", 0x1ED);
        var names = Enumerable.Range(0, 12).Select(i => $"f{i:00}").ToList();
        foreach (var n in names) await WriteFileAsync(fs, "d/" + n, n);

        var first = await fs.ReadDirAsync("d", 0, 6);
        Assert.Equal(6, first.Count);
        var seen = first.Select(e => e.Name).Where(n => n is not ("." or "..")).ToList();
        var unseen = names.Except(seen).ToList();
        await fs.UnlinkAsync("d/" + seen[0]);     // already listed
        await fs.UnlinkAsync("d/" + unseen[^1]);  // not listed yet: must not appear

        var rest = await fs.ReadDirAsync("d", first[^1].Cookie, 100);
        var restNames = rest.Select(e => e.Name).ToList();
        Assert.Equal(unseen.SkipLast(1).Order(), restNames.Order()); // nothing skipped, nothing twice
        Assert.Empty(await fs.ReadDirAsync("d", rest[^1].Cookie, 100)); // and the end stays the end
    }

    [Fact]
    public async Task Unlinked_open_file_stays_readable_until_closed_and_is_freed_after()
    {
        await using var fs = await StartAsync();
        var before = (await fs.StatFsAsync()).FilesFree;
        var f = await fs.OpenAsync("doomed", O_CREAT | O_RDWR);
        await f.PWriteAsync(0, "still here"u8.ToArray());
        Assert.Equal(before - 1, (await fs.StatFsAsync()).FilesFree);

        await fs.UnlinkAsync("doomed");
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => fs.LstatAsync("doomed")));
        Assert.Equal("still here"u8.ToArray(), await f.PReadAsync(0, 100));
        Assert.Equal(0UL, (await f.FStatAsync()).Nlink);
        Assert.Equal(before - 1, (await fs.StatFsAsync()).FilesFree); // the open file keeps the inode

        await f.DisposeAsync(); // close: RELEASE, then the last reference goes (FORGET)
        await EventuallyAsync(async () => (await fs.StatFsAsync()).FilesFree == before, "the inode is freed after the close");
    }

    [Fact]
    public async Task New_files_belong_to_their_creator_and_setgid_directories_pass_on_their_group()
    {
        await using var fs = await StartAsync();
        await fs.ChmodAsync("", 0x1FF); // let anyone create in the root
        var alice = fs.As(1000, 1000);
        await WriteFileAsync(alice, "mine", "x");
        var st = await fs.LstatAsync("mine");
        Assert.Equal((1000u, 1000u), (st.Uid, st.Gid));

        await fs.MkDirAsync("shared", 0x1FF);
        await fs.ChownAsync("shared", 0, 50);
        await fs.ChmodAsync("shared", S_ISGID | 0x1FF);
        await WriteFileAsync(alice, "shared/f", "x");
        await alice.MkDirAsync("shared/sub", 0x1ED);
        var f = await fs.LstatAsync("shared/f");
        var sub = await fs.LstatAsync("shared/sub");
        Assert.Equal((1000u, 50u), (f.Uid, f.Gid));
        Assert.Equal((1000u, 50u), (sub.Uid, sub.Gid));
        Assert.True((sub.Mode & S_ISGID) != 0, "a directory made in a setgid directory is setgid too");
    }

    [Fact]
    public async Task Chmod_changes_only_the_permission_bits()
    {
        await using var fs = await StartAsync();
        await WriteFileAsync(fs, "f", "x");
        await fs.MkDirAsync("d", 0x1ED);
        await fs.ChmodAsync("f", 0x180);
        await fs.ChmodAsync("d", 0x1C0);
        Assert.Equal(S_IFREG | 0x180, (await fs.LstatAsync("f")).Mode);
        Assert.Equal(S_IFDIR | 0x1C0, (await fs.LstatAsync("d")).Mode);
    }
}
