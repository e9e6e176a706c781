using FuseActors.Actors.Connection;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// PassthroughFs with kernel passthrough (FOPEN_PASSTHROUGH, Linux 6.9+) on a real mount: opened files' reads,
/// writes and mmap go from the kernel to the host file and never reach the daemon; the plain path (option off)
/// still sends them to the daemon; an open the kernel cannot pass through falls back to the plain path.
/// Each test counts the requests the daemon really received.
/// </summary>
public sealed class PassthroughKernelPassthroughTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("fuseactors-ptk-").FullName;
    private readonly string _source;
    private readonly RequestCounts _counts = new();

    public PassthroughKernelPassthroughTests() => _source = Directory.CreateDirectory(Path.Combine(_base, "src")).FullName;

    public void Dispose()
    {
        try { Directory.Delete(_base, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The connection always negotiates FUSE_PASSTHROUGH; the filesystem's option decides.</summary>
    private async Task<MountedFilesystem> MountAsync(bool kernelPassthrough)
    {
        var fs = await MountedFilesystem.StartAsync(
            CountingFs.Props(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = kernelPassthrough }), _counts),
            new ConnectionSettings { Passthrough = true });
        Assert.True((await fs.Mount.Ready).Flags.HasFlag(InitFlags.Passthrough), "the kernel did not take FUSE_PASSTHROUGH");
        return fs;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reads_writes_mmap_and_o_direct_reach_the_host_file_and_only_the_plain_path_sends_them_to_the_daemon(bool kernelPassthrough)
    {
        await using var fs = await MountAsync(kernelPassthrough);
        await Shell.OkAsync($"""
            set -e
            head -c 8388608 /dev/urandom > big && cmp big {_source}/big
            printf hello | dd of=big bs=1 seek=100 conv=notrunc status=none
            test "$(dd if={_source}/big bs=1 skip=100 count=5 status=none)" = hello
            echo tail >> big && test "$(tail -c 5 {_source}/big)" = tail
            dd if=/dev/urandom of=direct bs=64k count=16 oflag=direct status=none && cmp direct {_source}/direct
            dd if=direct of=/dev/null bs=64k iflag=direct status=none
            python3 -c "
            import mmap, os
            fd = os.open('big', os.O_RDWR)
            m = mmap.mmap(fd, 1 << 20)
            m[4096:4100] = b'MMAP'
            assert m[100:105] == b'hello'
            m.flush(); m.close(); os.close(fd)
            with open('{_source}/big', 'rb') as f:
                f.seek(4096); assert f.read(4) == b'MMAP'
            "
            cmp big {_source}/big
            """, fs.Path);
        if (kernelPassthrough)
            Assert.True(_counts[Opcode.Read] == 0 && _counts[Opcode.Write] == 0, $"the daemon saw file I/O: {_counts}");
        else
            Assert.True(_counts[Opcode.Read] > 0 && _counts[Opcode.Write] > 0, $"the plain path sent no I/O to the daemon: {_counts}");
        Assert.True(_counts[Opcode.Create] >= 2 && _counts[Opcode.Open] >= 4, _counts.ToString());
    }

    [Fact]
    public async Task Concurrent_opens_of_one_file_share_its_backing_and_see_host_writes_at_once()
    {
        await using var fs = await MountAsync(kernelPassthrough: true);
        // Several opens of one inode in different modes at once (and through a hard link): had they been given
        // different backing files, or one of them none, the kernel would fail the later open(2) with EIO.
        // Reads through the mount see a host-side write at once: they read the host file, not a FUSE page cache.
        await Shell.OkAsync($$"""
            echo first > f && ln f hard && python3 -c "
            import os
            r = os.open('f', os.O_RDONLY)
            w = os.open('hard', os.O_WRONLY | os.O_APPEND)
            rw = os.open('f', os.O_RDWR)
            assert os.pread(r, 100, 0) == b'first\n'
            os.write(w, b'second\n')
            assert os.pread(r, 100, 0) == b'first\nsecond\n'
            with open('{{_source}}/f', 'r+b') as host:
                host.write(b'FIRST')
            assert os.pread(rw, 100, 0) == b'FIRST\nsecond\n', os.pread(rw, 100, 0)
            for fd in (r, w, rw): os.close(fd)
            "
            """, fs.Path);
        Assert.True(_counts[Opcode.Read] == 0 && _counts[Opcode.Write] == 0, $"the daemon saw file I/O: {_counts}");
    }

    [Fact]
    public async Task A_write_by_another_user_through_passthrough_clears_set_user_id_on_the_host()
    {
        // The kernel writes the backing file with the daemon's credentials (root), which by themselves would keep
        // set-user-id; the FUSE layer must still drop it for the real writer (a SETATTR the daemon carries out).
        await Shell.OkAsync("chmod 755 . && echo x > suid && chmod 4777 suid", _source);
        await using var fs = await MountAsync(kernelPassthrough: true);
        await Shell.OkAsync("setpriv --reuid 1234 --regid 1234 --clear-groups sh -c 'echo more >> suid'", fs.Path);
        Assert.Equal("777\n", await Shell.OkAsync("stat -c %a suid", _source));
        Assert.Equal("x\nmore\n", await File.ReadAllTextAsync(Path.Combine(_source, "suid")));
        Assert.True(_counts[Opcode.Write] == 0 && _counts[Opcode.SetAttr] > 0, _counts.ToString());
    }

    [Fact]
    public async Task An_o_direct_open_the_host_refuses_takes_the_daemon_path_or_gets_the_hosts_einval()
    {
        // ramfs has no O_DIRECT. The kernel would open its backing file with the caller's O_DIRECT and fail the open
        // with EIO; the daemon asks the host first. With no passthrough open of the file, the O_DIRECT open takes the
        // daemon path (which drops O_DIRECT, as without kernel passthrough); while one is open, the inode can only
        // be opened in passthrough, and the caller gets the host's EINVAL.
        var ram = Directory.CreateDirectory(Path.Combine(_source, "ram")).FullName;
        await Shell.OkAsync($"mount -t ramfs ramfs {ram}");
        try
        {
            await using var fs = await MountAsync(kernelPassthrough: true);
            await Shell.OkAsync("head -c 16384 /dev/urandom > ram/f && dd if=ram/f of=ram/g bs=4k oflag=direct status=none && cmp ram/f ram/g", fs.Path);
            Assert.True(_counts[Opcode.Write] > 0, _counts.ToString()); // the O_DIRECT writes came to the daemon
            var r = await Shell.RunAsync("exec 3< ram/f && dd if=ram/f of=/dev/null iflag=direct status=none", fs.Path);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("Invalid argument", r.Stderr);
            // While the O_DIRECT open is served by the daemon, the inode is in the kernel's cached mode: a plain open
            // of it must not ask for passthrough (the kernel would fail it with EIO), and it sees the same data.
            await Shell.OkAsync("""
                python3 -c "
                import os
                d = os.open('ram/h', os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
                p = os.open('ram/h', os.O_RDONLY)
                os.write(d, b'z' * 4096)
                assert os.pread(p, 10, 0) == b'z' * 10
                os.close(p); os.close(d)
                "
                """, fs.Path);
        }
        finally
        {
            await Shell.RunAsync($"umount -l {ram}");
        }
    }

    [Fact]
    public async Task A_file_the_kernel_cannot_pass_through_is_served_by_the_daemon()
    {
        // Files on an overlayfs inside SOURCE are one filesystem stack level deep: the kernel refuses them as backing
        // files (ELOOP, beyond the negotiated max_stack_depth of 1), so their opens take the plain path and work.
        var lower = Directory.CreateDirectory(Path.Combine(_base, "lower")).FullName;
        var upper = Directory.CreateDirectory(Path.Combine(_base, "upper")).FullName;
        var work = Directory.CreateDirectory(Path.Combine(_base, "work")).FullName;
        var ov = Directory.CreateDirectory(Path.Combine(_source, "ov")).FullName;
        File.WriteAllText(Path.Combine(lower, "low"), "from below\n");
        await Shell.OkAsync($"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} {ov}");
        try
        {
            await using (var fs = await MountAsync(kernelPassthrough: true))
            {
                await Shell.OkAsync("echo plain > top && cat top > /dev/null", fs.Path); // passthrough
                Assert.Equal(0, _counts[Opcode.Read] + _counts[Opcode.Write]);
                Assert.Equal("from below\n", await Shell.OkAsync("cat ov/low", fs.Path));
                await Shell.OkAsync("echo written > ov/new && cmp ov/new <(echo written)", fs.Path);
                Assert.Equal("written\n", await File.ReadAllTextAsync(Path.Combine(upper, "new")));
                Assert.True(_counts[Opcode.Read] > 0 && _counts[Opcode.Write] > 0, _counts.ToString());
                // The refusal is per file: files outside the overlay still pass through.
                int reads = _counts[Opcode.Read], writes = _counts[Opcode.Write];
                await Shell.OkAsync("echo again > top2 && cat top2 top > /dev/null", fs.Path);
                Assert.Equal((reads, writes), (_counts[Opcode.Read], _counts[Opcode.Write]));
            }
        }
        finally
        {
            await Shell.RunAsync($"umount -l {ov}");
        }
    }
}
