using Akka.Actor;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Protocol;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// The POSIX program suite on PassthroughFs mirroring a fresh temporary SOURCE directory (one per test: xUnit makes
/// a new instance for each), plus checks that the mount and SOURCE really are the same tree.
/// </summary>
public class PassthroughPosixTests : PosixProgramTests, IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptsrc-");
    private string _source => _temp.Path;

    /// <summary>Every request the kernel sent to the daemon, by opcode.</summary>
    protected RequestCounts Counts { get; } = new();

    /// <summary>This class runs the plain path: every read and write goes through the daemon.</summary>
    protected virtual bool KernelPassthrough => false;

    protected override ConnectionSettings? Settings => new() { Passthrough = KernelPassthrough };

    protected override Props CreateFilesystem() =>
        CountingFs.Props(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = KernelPassthrough }), Counts);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_shared_mapping_of_a_file_opened_with_O_APPEND_writes_its_pages_back_in_place()
    {
        // The kernel writes a shared mapping's dirty pages back at their offsets. Through the daemon, the host
        // descriptor of an O_APPEND open used to append them at the end instead (pwrite ignores the offset there).
        // Before Linux 6.9 (no RWF_NOAPPEND) the daemon still appends there, as libfuse's examples do.
        if (Environment.OSVersion.Version < new Version(6, 9)) return;
        await using var fs = await MountAsync();
        var output = await Shell.OkAsync("""
            python3 - <<'PY'
            import mmap, os
            with open("f", "wb") as f: f.write(b"a" * 8192)
            fd = os.open("f", os.O_RDWR | os.O_APPEND)
            m = mmap.mmap(fd, 8192)
            m[0:1] = b"X"; m[4096:4097] = b"Y"
            m.flush(); m.close(); os.close(fd)
            PY
            """, fs.Path);
        Assert.Equal("", output);
        var host = File.ReadAllBytes(System.IO.Path.Combine(_source, "f"));
        Assert.Equal(8192, host.Length);
        Assert.Equal(((byte)'X', (byte)'Y', (byte)'a'), (host[0], host[4096], host[1]));
    }

    [Fact]
    public async Task A_chown_that_changes_nothing_updates_ctime_as_on_the_host()
    {
        await using var fs = await MountAsync();
        // chown(path, -1, -1) reaches the daemon as a SETATTR with only FATTR_CTIME; ext4 and tmpfs move ctime.
        var moved = await Shell.OkAsync("""
            python3 - <<'PY'
            import os, time
            open('f', 'w').close()
            before = os.stat('f').st_ctime_ns
            time.sleep(0.05)
            os.chown('f', -1, -1)
            print(os.stat('f').st_ctime_ns > before)
            PY
            """, fs.Path);
        Assert.Equal("True\n", moved);
    }

    [Fact]
    public async Task Files_written_through_the_mount_appear_in_source_with_identical_bytes_modes_and_owners()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            mkdir -p d/e && head -c 3000000 /dev/urandom > d/e/blob && chmod 604 d/e/blob && echo small > s && chmod 751 d
            ln -s e/blob d/rel && mkfifo d/pipe && ln s hard && setfattr -n user.k -v v s && chown 4321:8765 s
            """, fs.Path);
        await Shell.OkAsync($"cmp {fs["d/e/blob"]} {_source}/d/e/blob && cmp {fs["s"]} {_source}/s");
        var fmt = "stat -c '%n %F %a %u %g %s %h %i %Y' ";
        var inMount = await Shell.OkAsync(fmt + "d d/e d/e/blob d/rel d/pipe s hard", fs.Path);
        var inSource = await Shell.OkAsync(fmt + "d d/e d/e/blob d/rel d/pipe s hard", _source);
        Assert.Equal(inSource, inMount);
        Assert.Contains("s regular file 644 4321 8765 6 2 ", inSource);
        Assert.Equal("e/blob\n", await Shell.OkAsync($"readlink {_source}/d/rel"));
        Assert.Equal("v", await Shell.OkAsync($"getfattr --only-values -n user.k {_source}/s"));
    }

    [Fact]
    public async Task Files_created_in_source_directly_appear_in_the_mount()
    {
        await using var fs = await MountAsync();
        Assert.Equal("", await Shell.OkAsync("ls -A", fs.Path));
        await Shell.OkAsync("mkdir -p x/y && echo direct > x/y/f && chmod 640 x/y/f && ln -s y/f x/l && truncate -s 1M x/sparse", _source);
        Assert.Equal("direct\n", await Shell.OkAsync("cat x/y/f && test -L x/l", fs.Path));
        Assert.Equal("640 7 1048576\n", await Shell.OkAsync("stat -c '%a %s' x/y/f | tr '\\n' ' ' && stat -c %s x/sparse", fs.Path));
        Assert.Equal("l\nsparse\ny\n", await Shell.OkAsync("ls x", fs.Path));
        // Changes made behind the mount's back are seen (no negative caching; attributes expire after a second).
        await Shell.OkAsync("echo more >> x/y/f && rm x/sparse && touch x/new", _source);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal("direct\nmore\n", await Shell.OkAsync("cat x/y/f", fs.Path));
        Assert.Equal("l\nnew\ny\n", await Shell.OkAsync("ls x", fs.Path));
    }

    [Fact]
    public async Task Files_created_through_the_mount_belong_to_the_caller()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("chmod 777 .", fs.Path);
        await Shell.OkAsync("setpriv --reuid 1234 --regid 2345 --clear-groups sh -c 'umask 002 && mkdir d && touch f && ln -s f l && mkfifo p'", fs.Path);
        Assert.Equal("d 775 1234 2345\nf 664 1234 2345\nl 777 1234 2345\np 664 1234 2345\n",
            await Shell.OkAsync("stat -c '%n %a %u %g' d f l p", _source));
    }

    [Fact]
    public async Task Copy_file_range_fallocate_and_seek_data_reach_the_host_file()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            head -c 5000000 /dev/urandom > a && python3 -c "
            import os
            a = os.open('a', os.O_RDONLY); b = os.open('b', os.O_WRONLY | os.O_CREAT, 0o644)
            n = 0
            while n < 5000000:
                k = os.copy_file_range(a, b, 5000000 - n, n, n)
                assert k > 0
                n += k
            os.close(b)
            c = os.open('c', os.O_RDWR | os.O_CREAT, 0o644)
            os.pwrite(c, b'y' * 4096, 0)
            os.pwrite(c, b'x', 10 << 20)
            d = os.lseek(c, 2 << 20, os.SEEK_DATA); h = os.lseek(c, 0, os.SEEK_HOLE)
            assert (d, h) == (10 << 20, 4096), (d, h)
            os.posix_fallocate(c, 12 << 20, 1 << 20)
            os.close(c)
            " && cmp a b
            """, fs.Path);
        var sizeAndBlocks = (await Shell.OkAsync("stat -c '%s %b' c", _source)).Split(' ').Select(long.Parse).ToArray();
        Assert.Equal(13L << 20, sizeAndBlocks[0]);
        Assert.InRange(sizeAndBlocks[1], 2048 + 8, 4096); // the fallocated MiB is allocated, the hole is not

        // Punching a hole (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE) frees the host's blocks and keeps the size.
        await Shell.OkAsync("fallocate --punch-hole --offset $((12 << 20)) --length $((1 << 20)) c && fallocate -p -o 0 -l 4096 c", fs.Path);
        sizeAndBlocks = (await Shell.OkAsync("stat -c '%s %b' c", _source)).Split(' ').Select(long.Parse).ToArray();
        Assert.Equal(13L << 20, sizeAndBlocks[0]);
        Assert.InRange(sizeAndBlocks[1], 1, 2047);
        Assert.Equal("0\n", await Shell.OkAsync("head -c 4096 c | tr -d '\\0' | wc -c", _source));

        // The kernel asked the daemon, and the daemon asked the host (a kernel fallback to READ/WRITE would also
        // copy correctly, so the counts are what shows the operations themselves went through).
        Assert.True(Counts[Opcode.CopyFileRange] + Counts[Opcode.CopyFileRange64] > 0, Counts.ToString());
        Assert.True(Counts[Opcode.Fallocate] >= 3, Counts.ToString());
        Assert.True(Counts[Opcode.Lseek] >= 2, Counts.ToString());
    }
}

/// <summary>
/// The same suite with kernel passthrough on (Linux 6.9+): opened files' reads and writes go from the kernel to the
/// host file, everything else through the daemon.
/// </summary>
public sealed class PassthroughKernelPassthroughPosixTests : PassthroughPosixTests
{
    protected override bool KernelPassthrough => true;

    [Fact]
    public async Task The_suite_really_runs_in_kernel_passthrough()
    {
        await using var fs = await MountAsync();
        Assert.True((await fs.Mount.Ready).Flags.HasFlag(InitFlags.Passthrough), "the kernel did not take FUSE_PASSTHROUGH");
        await Shell.OkAsync("head -c 3000000 /dev/urandom > f && cat f > g && cmp f g", fs.Path);
        Assert.True(Counts[Opcode.Create] >= 2, Counts.ToString());
        Assert.Equal(0, Counts[Opcode.Read] + Counts[Opcode.Write]);
    }
}
