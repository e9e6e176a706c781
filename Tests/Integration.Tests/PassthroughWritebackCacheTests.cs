using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// PassthroughFs's plain path under the kernel's writeback cache, as libfuse's passthrough_hp runs by default
/// (`fuseactors.connection.writeback-cache = on` with `passthrough-fs.keep-kernel-cache = on`, for a SOURCE that
/// nothing but this mount changes): the whole POSIX program suite, and what the writeback cache changes for the
/// daemon. Writes reach it from the page cache (at their offsets, also for an O_APPEND open), the kernel reads the
/// rest of a page a write only partly covers (through a write-only open too), and it sends the mtime it kept.
/// </summary>
public sealed class PassthroughWritebackCacheTests : PosixProgramTests, IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptwb-");
    private string _source => _temp.Path;
    private readonly RequestCounts _counts = new();

    protected override ConnectionSettings? Settings => new() { Passthrough = false, WritebackCache = true };

    protected override Props CreateFilesystem() =>
        CountingFs.Props(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = false, KeepKernelCache = KernelCacheMode.On }), _counts);

    public void Dispose() => _temp.Dispose();

    private string Host(string name) => System.IO.Path.Combine(_source, name);

    [Fact]
    public async Task Files_written_and_read_again_are_read_from_the_kernel_cache_and_their_bytes_reach_the_host()
    {
        await using var fs = await MountAsync();
        Assert.True((await fs.Mount.Ready).Flags.HasFlag(InitFlags.WritebackCache), "the kernel did not take FUSE_WRITEBACK_CACHE");
        await Shell.OkAsync("for i in 1 2 3 4 5; do head -c $((i * 3000)) /dev/urandom > f$i; done", fs.Path);
        long reads = _counts[Opcode.Read];
        Assert.True(_counts[Opcode.Write] > 0, _counts.ToString());
        // Each file's bytes are on the host once it was closed (the kernel writes them back at close).
        for (int i = 1; i <= 5; i++)
            await Shell.OkAsync($"cmp {fs[$"f{i}"]} {Host($"f{i}")}");
        Assert.Equal(reads, _counts[Opcode.Read]);
    }

    [Fact]
    public async Task Writes_to_part_of_an_uncached_page_through_write_only_opens_keep_the_rest_of_the_page()
    {
        // The kernel reads the page before it changes part of it, through the handle of the open that writes: the
        // host descriptor behind a write-only open must be readable too. It was not, so the READ failed with EBADF
        // and the write with it (`>>` failed with "Bad file descriptor").
        await File.WriteAllTextAsync(Host("f"), "hello world\n");
        await File.WriteAllTextAsync(Host("g"), "first line\n");
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            python3 -c "import os; fd = os.open('f', os.O_WRONLY); os.pwrite(fd, b'X', 1); os.close(fd)"
            printf 'second line\n' >> g
            """, fs.Path);
        Assert.Equal("hXllo world\n", await File.ReadAllTextAsync(Host("f")));
        Assert.Equal("first line\nsecond line\n", await File.ReadAllTextAsync(Host("g")));
        Assert.True(_counts[Opcode.Read] >= 2, _counts.ToString());
    }

    [Fact]
    public async Task Appends_to_an_append_only_host_file_are_written_back()
    {
        // chattr +a on the host refuses a write at an offset, and the kernel writes back whole pages, which start with
        // bytes the file has already: the append was lost without an error (`echo >> f` succeeded, the host file kept
        // its old content). The daemon now appends what is new when the rest matches the host's bytes.
        // Before Linux 6.9 (no RWF_NOAPPEND) the host descriptor drops O_APPEND under the writeback cache, which an
        // append-only file refuses at open (README).
        if (Environment.OSVersion.Version < new Version(6, 9)) return;
        await File.WriteAllTextAsync(Host("f"), "first\n");
        var chattr = await Shell.RunAsync($"chattr +a {Host("f")}");
        if (chattr.ExitCode != 0) return; // a host filesystem without append-only files: nothing to check
        try
        {
            await using var fs = await MountAsync();
            await Shell.OkAsync("echo second >> f && echo third >> f && sync f", fs.Path);
            Assert.Equal("first\nsecond\nthird\n", await File.ReadAllTextAsync(Host("f")));
            // A change to what the file already holds (through a shared mapping) is still refused, as the host says.
            var change = await Shell.RunAsync("""
                python3 -c "import mmap, os; fd = os.open('f', os.O_RDWR | os.O_APPEND); m = mmap.mmap(fd, 0); m[0:1] = b'X'; m.flush()"
                """, fs.Path);
            Assert.NotEqual(0, change.ExitCode);
            Assert.Equal("first\nsecond\nthird\n", await File.ReadAllTextAsync(Host("f")));
        }
        finally { await Shell.RunAsync($"chattr -a {Host("f")}"); }
    }

    [Fact]
    public async Task Appends_from_two_opens_land_at_the_end_in_order()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            python3 - <<'PY'
            import os
            a = os.open('f', os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            b = os.open('f', os.O_WRONLY | os.O_APPEND)
            for i in range(3):
                os.write(a, b'a%d\n' % i); os.write(b, b'b%d\n' % i)
            os.close(a); os.close(b)
            PY
            """, fs.Path);
        Assert.Equal("a0\nb0\na1\nb1\na2\nb2\n", await File.ReadAllTextAsync(Host("f")));
        Assert.Equal("a0\nb0\na1\nb1\na2\nb2\n", await Shell.OkAsync("cat f", fs.Path));
    }

    [Fact]
    public async Task After_close_the_host_file_has_the_size_the_mount_showed_and_a_set_modification_time()
    {
        // The kernel keeps size and mtime itself and sends them (SETATTR) when it writes the pages back. An append after
        // a truncate lost its bytes here before write-only opens were readable on the host.
        await using var fs = await MountAsync();
        var inMount = await Shell.OkAsync("""
            head -c 10000 /dev/zero > f && printf more >> f && truncate -s 9000 f && printf end >> f
            touch -m -d '2001-02-03 04:05:06.5' g && stat -c '%n %s %.9Y' f g
            """, fs.Path);
        var onHost = await Shell.OkAsync("stat -c '%n %s %.9Y' f g", _source);
        Assert.Equal("g 0 981173106.500000000", inMount.Split('\n')[1]);
        Assert.Equal("g 0 981173106.500000000", onHost.Split('\n')[1]);
        var (mountF, hostF) = (inMount.Split('\n')[0].Split(' '), onHost.Split('\n')[0].Split(' '));
        Assert.Equal(("9003", "9003"), (mountF[1], hostF[1]));
        Assert.Equal(new string('\0', 9000) + "end", await File.ReadAllTextAsync(Host("f")));
        // The mtime the kernel kept is the host's, or an earlier one by the time a write back takes: the kernel sends
        // the pages' WRITE and the times' SETATTR together, and the daemon's reader threads may take them in either
        // order (libfuse's threads too), so the WRITE can move the host's mtime past what the SETATTR set.
        var lag = decimal.Parse(hostF[2], System.Globalization.CultureInfo.InvariantCulture) - decimal.Parse(mountF[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(lag, 0m, 1m);
    }
}
