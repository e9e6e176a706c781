using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// MemoryFs lets the kernel keep a file's pages and a directory's listing across opens (FOPEN_KEEP_CACHE,
/// FOPEN_CACHE_DIR): a file read again, or a directory listed again, is answered by the kernel without a READ or
/// READDIR; and what a change through the mount makes stale is never served: new data, a new or removed name, a
/// truncate and a hole punched are seen at once. Each test counts the requests the daemon really received.
/// </summary>
[Collection(DropsPageCache.Name)]
public sealed class MemoryFsKernelCacheTests
{
    [Fact]
    public async Task A_file_read_again_comes_from_the_kernel_cache_and_every_change_through_the_mount_is_seen()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(), counts));
        await Shell.OkAsync("head -c 1048576 /dev/urandom > f && sha256sum f > sum && echo 3 > /proc/sys/vm/drop_caches", fs.Path);
        await Shell.OkAsync("sha256sum -c sum", fs.Path);
        long reads = counts[Opcode.Read];
        Assert.True(reads > 0, counts.ToString());
        await Shell.OkAsync("sha256sum -c sum && cat f > /dev/null", fs.Path);
        Assert.Equal(reads, counts[Opcode.Read]); // the second and third opens read the kernel's pages

        var output = await Shell.OkAsync("""
            set -e
            printf NEW | dd of=f bs=1 seek=4096 conv=notrunc status=none
            dd if=f bs=1 skip=4096 count=3 status=none; echo
            fallocate --punch-hole --offset 0 --length 4096 f
            test "$(head -c 4096 f | tr -d '\0' | wc -c)" = 0 && echo hole
            truncate -s 10 f && wc -c < f
            echo again > f && cat f
            """, fs.Path);
        Assert.Equal("NEW\nhole\n10\nagain\n", output);
    }

    [Fact]
    public async Task A_directory_listed_again_comes_from_the_kernel_cache_until_a_name_changes()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(), counts));
        await Shell.OkAsync("mkdir d && for i in $(seq 1 300); do : > d/f$i; done", fs.Path);
        Assert.Equal("300\n", await Shell.OkAsync("ls d | wc -l", fs.Path));
        long listings = counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus];
        Assert.Equal("300\n", await Shell.OkAsync("ls -f d > /dev/null && ls d | wc -l", fs.Path));
        Assert.Equal(listings, counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus]);

        var output = await Shell.OkAsync("""
            : > d/new && ls d | grep -c new
            rm d/f1 && ls d | grep -cx f1 || true
            mv d/f2 d/moved && ls d | grep -cx moved
            ls d | wc -l
            """, fs.Path);
        Assert.Equal("1\n0\n1\n300\n", output);
    }

    [Fact]
    public async Task With_keep_kernel_cache_off_every_open_reads_and_lists_through_the_daemon()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(new MemoryFsOptions { KeepKernelCache = false }), counts));
        await Shell.OkAsync("echo data > f && mkdir d && : > d/x && cat f > /dev/null && ls d > /dev/null", fs.Path);
        long reads = counts[Opcode.Read], listings = counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus];
        await Shell.OkAsync("cat f > /dev/null && ls d > /dev/null", fs.Path);
        Assert.True(counts[Opcode.Read] > reads, counts.ToString());
        Assert.True(counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus] > listings, counts.ToString());
    }
}
