using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// O_DIRECT through plain passthrough (every read and write through the daemon): the host file is opened O_DIRECT as
/// the caller asked, so its I/O bypasses the host's page cache too; a READ goes through an aligned buffer, a WRITE from
/// the request's own buffer (the engine reads it so that its data starts on a page boundary); and what the host cannot
/// take with O_DIRECT (unaligned I/O, the kernel's writeback of a last partial page through the handle) still lands,
/// through a buffered twin of the descriptor.
/// </summary>
[Collection(ProcessWideCounters.Name)]
public sealed class PassthroughDirectIoTests : IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptdirect-");
    private string _source => _temp.Path;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task An_O_DIRECT_open_opens_the_host_file_O_DIRECT_and_aligned_and_unaligned_IO_lands_intact()
    {
        await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = false }));
        long copiesBefore = HostIo.AlignedCopies;
        // The program holds its O_DIRECT descriptor open until the test has looked at the daemon's (this process's) descriptors.
        var go = Path.Combine(_source, "go");
        var program = Shell.RunAsync($$"""
            python3 - <<'PY'
            import mmap, os, time
            path = "{{fs["direct.bin"]}}"
            fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
            buf = mmap.mmap(-1, 8192)                      # page-aligned, as O_DIRECT wants
            buf.write(bytes(range(256)) * 32)
            assert os.pwrite(fd, buf, 0) == 8192
            rd = mmap.mmap(-1, 8192)
            assert os.preadv(fd, [rd], 0) == 8192 and rd[:] == buf[:], "aligned O_DIRECT read back differs"
            print("written", flush=True)
            deadline = time.time() + 60
            while not os.path.exists("{{go}}") and time.time() < deadline: time.sleep(0.02)
            # Unaligned O_DIRECT I/O: FUSE passes it on as it is; the host would refuse it with O_DIRECT.
            assert os.pwrite(fd, b"unaligned", 8195) == 9
            assert os.pread(fd, 9, 8195) == b"unaligned"
            # A shared mapping of the O_DIRECT file: its dirty pages go back by writeback, possibly through this handle.
            os.ftruncate(fd, 10000)
            m = mmap.mmap(fd, 10000)
            m[9990:10000] = b"0123456789"
            m.flush(); m.close()
            os.close(fd)
            print("done", flush=True)
            PY
            """, timeout: TimeSpan.FromMinutes(2));

        // While the program holds the file open, the daemon holds an O_DIRECT descriptor of the host file.
        var host = Path.Combine(_source, "direct.bin");
        bool seen = false;
        for (int i = 0; i < 600 && !seen && !program.IsCompleted; i++)
        {
            seen = OwnDescriptors.FlagsOf(host).Any(flags => (flags & 0x4000) != 0);   // O_DIRECT (x86-64)
            if (!seen) await Task.Delay(50);
        }
        File.WriteAllText(go, "");
        var result = await program;
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("written\ndone\n", result.Stdout);
        Assert.True(seen, "the daemon never held the host file open with O_DIRECT");
        // The engine reads a WRITE with its data on a page boundary: O_DIRECT takes it from there, with no copy into an
        // aligned buffer (every mount in this process reads its requests through the engine, so none of them should
        // count one; a test here that builds WRITEs by hand for an O_DIRECT handle would break this check).
        Assert.Equal(copiesBefore, HostIo.AlignedCopies);

        var bytes = File.ReadAllBytes(host);
        Assert.Equal(10000, bytes.Length);
        for (int i = 0; i < 8192; i++) Assert.Equal((byte)(i % 256), bytes[i]);
        Assert.Equal("unaligned"u8.ToArray(), bytes[8195..8204]);
        Assert.Equal("0123456789"u8.ToArray(), bytes[9990..10000]);
    }

    /// <summary>
    /// ext4 with data=journal serves O_DIRECT reads from its page cache: with RWF_NOWAIT (the inline fast path) such a
    /// read returns only the cached part, which is not end of file. A READ answered with that short count would be end
    /// of file to the kernel (the caller would see the file cut short); the rest must be read.
    /// </summary>
    [Fact]
    public async Task An_O_DIRECT_read_that_the_host_serves_partly_from_its_cache_is_answered_whole()
    {
        if (Environment.UserName != "root") return; // loop mount: root only (CI runs as root)
        await Ext4LoopMount.WithAsync(_source, "64M", "data=journal", async host =>
        {
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(host, new PassthroughOptions { KernelPassthrough = false }));
            var output = await Shell.OkAsync($$"""
                python3 - <<'PY'
                import mmap, os
                host, mnt = "{{host}}/f", "{{fs["f"]}}"
                data = os.urandom(1 << 20)
                with open(host, "wb") as f: f.write(data)
                os.sync()
                fd = os.open(host, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # nothing of it cached ...
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                os.pread(fd, 4096, 0)                                # ... but its first page
                os.close(fd)
                fd = os.open(mnt, os.O_RDONLY | os.O_DIRECT)
                buf = mmap.mmap(-1, 1 << 20)
                n = os.preadv(fd, [buf], 0)
                os.close(fd)
                print(n, buf[:] == data)
                PY
                """, timeout: TimeSpan.FromMinutes(1));
            Assert.Equal("1048576 True\n", output);
        });
    }
}
