using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Errors through a PassthroughFs mount are the host's errno. Most of these the FUSE kernel cannot produce on its
/// own (it sees one read-write filesystem): EXDEV across a host mount inside SOURCE, EROFS from a read-only bind
/// mount, EPERM from an immutable file; they can only come from the host call the daemon made.
/// </summary>
public sealed class PassthroughHostErrnoTests : IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-pterr-");
    private string _source => _temp.Path;

    public void Dispose() => _temp.Dispose();

    /// <summary>Runs each Python statement through the mount and returns "statement: ERRNO-NAME" (or "ok") per line.</summary>
    private static Task<string> ErrnosAsync(string cwd, params string[] statements)
    {
        var body = string.Join("\n", statements.Select(s => $"try:\n    {s}\n    print({Quote(s)} + ': ok')\nexcept OSError as e:\n    print({Quote(s)} + ': ' + errno.errorcode[e.errno])"));
        return Shell.OkAsync($"python3 - <<'PY'\nimport errno, os\n{body}\nPY", cwd);
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    [Fact]
    public async Task Host_errors_reach_the_caller_as_the_hosts_errno()
    {
        await Shell.OkAsync("""
            set -e
            mkdir full empty t ro && touch full/x a ro/file imm
            mount -t tmpfs -o size=1m tmpfs t
            mount --bind ro ro && mount -o remount,bind,ro ro
            chattr +i imm
            """, _source);
        try
        {
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source));
            var name256 = new string('n', 256);
            var result = await ErrnosAsync(fs.Path,
                "os.rmdir('full')",
                "os.rename('empty', 'full')",
                $"os.close(os.open('{name256}', os.O_CREAT | os.O_WRONLY))",
                "os.rename('a', 't/a')",
                "os.link('a', 't/a')",
                "os.close(os.open('ro/new', os.O_CREAT | os.O_WRONLY))",
                "os.mkdir('ro/d')",
                "os.unlink('ro/file')",
                "os.close(os.open('ro/file', os.O_WRONLY))",
                "os.close(os.open('imm', os.O_WRONLY))",
                "os.unlink('imm')",
                "os.rename('imm', 'imm2')",
                "os.rename('a', 'b')");
            Assert.Equal($"""
                os.rmdir('full'): ENOTEMPTY
                os.rename('empty', 'full'): ENOTEMPTY
                os.close(os.open('{name256}', os.O_CREAT | os.O_WRONLY)): ENAMETOOLONG
                os.rename('a', 't/a'): EXDEV
                os.link('a', 't/a'): EXDEV
                os.close(os.open('ro/new', os.O_CREAT | os.O_WRONLY)): EROFS
                os.mkdir('ro/d'): EROFS
                os.unlink('ro/file'): EROFS
                os.close(os.open('ro/file', os.O_WRONLY)): EROFS
                os.close(os.open('imm', os.O_WRONLY)): EPERM
                os.unlink('imm'): EPERM
                os.rename('imm', 'imm2'): EPERM
                os.rename('a', 'b'): ok

                """, result);
            // A file the kernel did not write to through the mount either: copy across works (mv falls back on EXDEV).
            await Shell.OkAsync("mv b t/b && test -f t/b && test ! -e b", fs.Path);
        }
        finally
        {
            await Shell.RunAsync("chattr -i imm; umount -l ro; umount -l t", _source);
        }
    }

    [Fact]
    public async Task A_non_root_caller_gets_eacces_where_the_host_would_refuse_it()
    {
        await Shell.OkAsync("chmod 755 . && mkdir rootonly && echo s > secret && chmod 600 secret && echo r > readable && chmod 644 readable", _source);
        await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source));
        // The mount uses default_permissions: the kernel checks the host's modes and owners (as the host would for
        // this user), and the daemon, which runs as root, only ever does what was allowed.
        // Each command's error message names its errno (strerror): EACCES "Permission denied", EPERM "Operation not
        // permitted". (The user cannot run root's python, so plain tools it is.)
        var result = await Shell.OkAsync("""
            for cmd in 'touch rootonly/x' 'cat secret' 'echo w > readable' 'chmod 777 readable' 'rm -f readable' 'cat readable'; do
              if out=$(setpriv --reuid 1234 --regid 1234 --clear-groups sh -c "$cmd" 2>&1); then echo "$cmd: ok $out"; else echo "$cmd: ${out##*: }"; fi
            done
            """, fs.Path);
        Assert.Equal("""
            touch rootonly/x: Permission denied
            cat secret: Permission denied
            echo w > readable: Permission denied
            chmod 777 readable: Operation not permitted
            rm -f readable: Permission denied
            cat readable: ok r

            """, result);
        Assert.Equal("readable\nrootonly\nsecret\n", await Shell.OkAsync("ls", _source));
        Assert.Equal("644\n", await Shell.OkAsync("stat -c %a readable", _source));
    }

    [Theory]
    [InlineData("1M")]
    [InlineData("64K")]
    [InlineData("4K")]
    public async Task An_O_DIRECT_writer_on_the_daemon_path_gets_ENOSPC_when_the_host_fills(string blockSize)
    {
        // 1100 KiB of tmpfs: free space that is no multiple of 64 KiB or 1 MiB, so the last write is cut short by the
        // host. A short WRITE reply to an O_DIRECT write makes the kernel answer EIO: the daemon must answer ENOSPC.
        await Shell.OkAsync("mkdir t && mount -t tmpfs -o size=1100k tmpfs t", _source);
        try
        {
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = false }));
            var dd = await Shell.RunAsync($"dd if=/dev/zero of=t/f bs={blockSize} count=4096 oflag=direct", fs.Path);
            Assert.NotEqual(0, dd.ExitCode);
            Assert.Contains("No space left on device", dd.Stderr);
            Assert.DoesNotContain("Input/output error", dd.Stderr);
        }
        finally
        {
            await Shell.RunAsync("umount -l t", _source);
        }
    }
}
