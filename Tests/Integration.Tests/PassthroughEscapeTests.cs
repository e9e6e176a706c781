using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Nothing escapes SOURCE through a real mount of PassthroughFs. Layout per test: BASE/src is SOURCE, and
/// BASE/outside-GUID (holding "secret") is the place a confused daemon would reach with "..", by following a
/// symlink, or by resolving a path after a swap. The mountpoint lives elsewhere in /tmp, so the relative link
/// "../outside-GUID" names BASE/outside-GUID on the host but a path that does not exist from the mount's side.
/// (Names with '/', "." or ".." in requests the kernel would never send are refused at the unit level:
/// PassthroughEscapeUnitTests.)
/// </summary>
public sealed class PassthroughEscapeTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("fuseactors-esc-").FullName;
    private readonly string _source;
    private readonly string _outsideName = "outside-" + Guid.NewGuid().ToString("N");
    private readonly string _outside;

    public PassthroughEscapeTests()
    {
        _source = Directory.CreateDirectory(Path.Combine(_base, "src")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_base, _outsideName)).FullName;
        File.WriteAllText(Path.Combine(_outside, "secret"), "outside data\n");
    }

    public void Dispose()
    {
        try { Directory.Delete(_base, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private Task<MountedFilesystem> MountAsync(PassthroughOptions? options = null) =>
        MountedFilesystem.StartAsync(PassthroughFs.Props(_source, options));

    private string[] OutsideContents() =>
        Directory.EnumerateFileSystemEntries(_outside, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(_outside, p)).Order().ToArray();

    private void AssertOutsideUntouched()
    {
        Assert.Equal(["secret"], OutsideContents());
        Assert.Equal("outside data\n", File.ReadAllText(Path.Combine(_outside, "secret")));
        // Nor did anything appear where the relative link points from the mount's side.
        Assert.False(Path.Exists(Path.Combine(Path.GetTempPath(), _outsideName)));
    }

    [Fact]
    public async Task Dot_dot_at_the_mount_root_is_the_mountpoints_parent_and_inside_it_stays_in_source()
    {
        Directory.CreateDirectory(Path.Combine(_source, "sub"));
        await using var fs = await MountAsync();
        var mountParent = Path.GetDirectoryName(fs.Path)!;
        // The kernel resolves ".." of the mount root in the caller's namespace (the mountpoint's parent); no LOOKUP
        // of ".." ever reaches the daemon, and the daemon refuses one if sent (unit tests).
        Assert.Equal(await Shell.OkAsync($"stat -c %d:%i {mountParent}"), await Shell.OkAsync("stat -c %d:%i ..", fs.Path));
        Assert.NotEqual(await Shell.OkAsync($"stat -c %d:%i {_base}"), await Shell.OkAsync("stat -c %d:%i ..", fs.Path));
        Assert.Equal(1, (await Shell.RunAsync($"test -e ../{_outsideName} || test -e sub/../../{_outsideName}", fs.Path)).ExitCode);
        Assert.Equal(1, (await Shell.RunAsync($"ls .. | grep -qx {_outsideName}", fs.Path)).ExitCode);
        // ".." below the root is SOURCE's own directory.
        Assert.Equal("sub\n", await Shell.OkAsync("cd sub && ls ..", fs.Path));
        Assert.Equal(fs.Path + "\n", await Shell.OkAsync("cd sub/.. && pwd -P", fs.Path));
        AssertOutsideUntouched();
    }

    [Fact]
    public async Task Symlinks_pointing_outside_are_links_the_daemon_never_follows()
    {
        File.CreateSymbolicLink(Path.Combine(_source, "abs"), _outside);
        File.CreateSymbolicLink(Path.Combine(_source, "rel"), "../" + _outsideName);
        File.CreateSymbolicLink(Path.Combine(_source, "up"), "../../../../../../../../..");
        var outsideBefore = await Shell.OkAsync($"stat -c '%u %g %a %Y' {_outside}");
        await using var fs = await MountAsync();

        Assert.Equal(_outside + "\n", await Shell.OkAsync("readlink abs", fs.Path));
        Assert.Equal($"../{_outsideName}\n", await Shell.OkAsync("readlink rel", fs.Path));
        Assert.Equal("symbolic link\nsymbolic link\nsymbolic link\n", await Shell.OkAsync("stat -c %F abs rel up", fs.Path));
        // A relative link is resolved by the caller's kernel from the mount's side, where it leads nowhere; the host
        // directory it names beside SOURCE is not reachable through it.
        var r = await Shell.RunAsync("ls rel/ && echo x > rel/new", fs.Path);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("No such file or directory", r.Stderr);
        // An absolute link is followed by the caller's kernel in the caller's namespace, as for any symlink: the
        // caller reaches what it could reach anyway, and the daemon is not involved (the path leaves the mount).
        Assert.Equal("outside data\n", await Shell.OkAsync("cat abs/secret", fs.Path));

        // Changing the link itself through the mount changes the link in SOURCE, never its target.
        await Shell.OkAsync("chown -h 4321:8765 abs rel && touch -h -d '2001-02-03 04:05:06' abs rel", fs.Path);
        Assert.Equal("4321 8765 981173106\n4321 8765 981173106\n", await Shell.OkAsync("stat -c '%u %g %Y' abs rel", _source));
        Assert.Equal(outsideBefore, await Shell.OkAsync($"stat -c '%u %g %a %Y' {_outside}"));
        await Shell.OkAsync("mv abs moved && rm moved rel up", fs.Path);
        Assert.Equal("", await Shell.OkAsync("ls -A", _source));
        AssertOutsideUntouched();
    }

    [Fact]
    public async Task A_directory_swapped_for_an_outside_symlink_behind_the_mount_keeps_receiving_what_is_made_in_it()
    {
        // The kernel keeps the name "d" → node mapping for an hour, so after the host swaps SOURCE/d for a symlink to
        // outside, every request below still names the node of the old directory. The daemon works on that node's
        // descriptor (the inode), so everything lands in the moved directory; a daemon that kept paths and resolved
        // "d/..." on the host would follow the new symlink out of SOURCE.
        await using var fs = await MountAsync(new PassthroughOptions { EntryTimeout = TimeSpan.FromHours(1), AttrTimeout = TimeSpan.FromHours(1) });
        await Shell.OkAsync("mkdir d && echo old > d/kept && stat d/kept > /dev/null", fs.Path);
        await Shell.OkAsync($"mv d d.moved && ln -s ../{_outsideName} d", _source);

        await Shell.OkAsync("touch d/f1 && mkdir d/sub && ln -s x d/sl && mkfifo d/fifo && mv d/f1 d/f2 && echo data > d/f3 && ln d/f3 d/f4 && echo more >> d/kept", fs.Path);
        Assert.Equal("f2\nf3\nf4\nfifo\nkept\nsl\nsub\n", await Shell.OkAsync("ls", Path.Combine(_source, "d.moved")));
        Assert.Equal("data\n", await File.ReadAllTextAsync(Path.Combine(_source, "d.moved", "f3")));
        Assert.Equal("old\nmore\n", await File.ReadAllTextAsync(Path.Combine(_source, "d.moved", "kept")));
        await Shell.OkAsync("rm d/f2 d/f4 && rmdir d/sub", fs.Path);
        Assert.Equal("f3\nfifo\nkept\nsl\n", await Shell.OkAsync("ls", Path.Combine(_source, "d.moved")));
        AssertOutsideUntouched();
    }

    [Fact]
    public async Task Creating_while_the_host_keeps_exchanging_a_directory_and_an_outside_symlink_never_creates_outside()
    {
        // The race itself: no entry caching, so every path walk looks "d" up again, while a host process keeps
        // exchanging SOURCE/d (a directory) and SOURCE/l (a symlink to outside) with renameat2(RENAME_EXCHANGE).
        // A lookup returns whichever inode holds the name at that instant, as its own node: a directory node (then
        // the creation happens in that directory, by descriptor) or a symlink node (then the caller's kernel
        // follows it from the mount's side, to a path that does not exist). Whatever the interleaving, nothing
        // may appear outside, and every creation that succeeded is in the directory.
        Directory.CreateDirectory(Path.Combine(_source, "d"));
        File.CreateSymbolicLink(Path.Combine(_source, "l"), "../" + _outsideName);
        await using var fs = await MountAsync(new PassthroughOptions { EntryTimeout = TimeSpan.Zero, AttrTimeout = TimeSpan.Zero });
        var stop = Path.Combine(_base, "stop");
        var swaps = Path.Combine(_base, "swaps");
        var swapper = Shell.RunAsync($$"""
            python3 -c "
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            n = 0
            while not os.path.exists('{{stop}}'):
                if libc.renameat2(-100, b'd', -100, b'l', 2) != 0:
                    raise OSError(ctypes.get_errno(), 'renameat2')
                n += 1
            if n % 2: libc.renameat2(-100, b'd', -100, b'l', 2)
            open('{{swaps}}', 'w').write(str(n))
            "
            """, _source);
        try
        {
            var made = await Shell.OkAsync("""
                python3 -c "
                import os
                made = []
                for i in range(600):
                    for name, act in (('f%d' % i, lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))),
                                      ('m%d' % i, lambda p: os.mkdir(p)),
                                      ('s%d' % i, lambda p: os.symlink('t', p))):
                        try:
                            act('d/' + name); made.append(name)
                        except OSError:
                            pass
                print(' '.join(made))
                "
                """, fs.Path);
            File.WriteAllText(stop, "");
            Assert.Equal(0, (await swapper).ExitCode);
            Assert.True(int.Parse(File.ReadAllText(swaps)) > 0);
            AssertOutsideUntouched();
            // The swapper ended with d a directory again; every successful creation is in it.
            var inDir = Directory.GetFileSystemEntries(Path.Combine(_source, "d")).Select(Path.GetFileName).ToHashSet();
            var names = made.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            Assert.All(names, n => Assert.Contains(n, inDir));
            Assert.Equal(inDir.Count, names.Length);
        }
        finally
        {
            File.WriteAllText(stop, "");
            await swapper;
        }
    }
}
