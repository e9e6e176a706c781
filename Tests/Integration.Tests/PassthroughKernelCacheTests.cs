using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// PassthroughFs's keep-kernel-cache. on: a re-read and a re-listing are answered by the kernel (no READ, no READDIR),
/// changes through the mount are seen at once, and a change made on the host shows once the node's attributes are
/// refreshed. off: every open reads and lists through the daemon, so a host-side change shows at once. auto (the
/// default): the kernel keeps what it cached while the host file or directory is unchanged since its last open, and a
/// host-side change shows on the next open, however long the attribute timeout.
/// </summary>
public sealed class PassthroughKernelCacheTests : IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptcache-");
    private string _source => _temp.Path;

    public void Dispose() => _temp.Dispose();

    private async Task<MountedFilesystem> MountAsync(KernelCacheMode keep, RequestCounts counts, TimeSpan? attrTimeout = null) =>
        await MountedFilesystem.StartAsync(CountingFs.Props(PassthroughFs.Props(_source,
            new PassthroughOptions { KernelPassthrough = false, KeepKernelCache = keep, AttrTimeout = attrTimeout ?? TimeSpan.FromMilliseconds(500) }), counts));

    [Fact]
    public async Task With_it_rereads_and_relistings_stay_in_the_kernel_and_host_changes_show_after_the_attribute_timeout()
    {
        var counts = new RequestCounts();
        await using var fs = await MountAsync(KernelCacheMode.On, counts);
        await Shell.OkAsync("echo one > f && mkdir d && : > d/a && cat f > /dev/null && ls d > /dev/null", fs.Path);
        long reads = counts[Opcode.Read], listings = counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus];
        Assert.Equal("one\na\n", await Shell.OkAsync("cat f && ls d", fs.Path));
        Assert.Equal(reads, counts[Opcode.Read]);
        Assert.Equal(listings, counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus]);

        // Through the mount: seen at once.
        Assert.Equal("two\na\nb\n", await Shell.OkAsync("echo two > f && : > d/b && cat f && ls d", fs.Path));
        // On the host: seen once the attributes were refreshed (a new mtime and size drop the kept cache).
        await File.WriteAllTextAsync(Path.Combine(_source, "f"), "three, longer\n");
        File.Create(Path.Combine(_source, "d", "c")).Dispose();
        await Task.Delay(1500);
        Assert.Equal("three, longer\na\nb\nc\n", await Shell.OkAsync("cat f && ls d", fs.Path));
    }

    [Fact]
    public async Task Without_it_every_open_reads_and_lists_through_the_daemon_and_host_changes_show_at_once()
    {
        var counts = new RequestCounts();
        await using var fs = await MountAsync(KernelCacheMode.Off, counts);
        await Shell.OkAsync("echo one > f && mkdir d && : > d/a && cat f > /dev/null && ls d > /dev/null", fs.Path);
        long reads = counts[Opcode.Read], listings = counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus];
        await File.AppendAllTextAsync(Path.Combine(_source, "f"), "more\n");
        File.Create(Path.Combine(_source, "d", "c")).Dispose();
        Assert.Equal("a\nc\none\n", await Shell.OkAsync("ls d && head -n 1 f", fs.Path));
        Assert.True(counts[Opcode.Read] > reads, counts.ToString());
        Assert.True(counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus] > listings, counts.ToString());
    }

    [Fact]
    public async Task With_auto_unchanged_files_and_listings_stay_in_the_kernel_and_a_host_change_shows_on_the_next_open()
    {
        // auto trusts a host's timestamps only where two changes cannot share one (multigrain timestamps: ext4, xfs,
        // btrfs, tmpfs on Linux 6.13+); elsewhere it keeps nothing, and only the host-change half applies.
        var fsType = (await Shell.OkAsync($"stat -f -c %T {_source}")).Trim();
        bool fine = Environment.OSVersion.Version >= new Version(6, 13) && fsType is "ext2/ext3" or "xfs" or "btrfs" or "tmpfs";
        var counts = new RequestCounts();
        // Attributes cached for a minute: what shows a host-side change here is the check at open, not a refresh.
        await using var fs = await MountAsync(KernelCacheMode.Auto, counts, attrTimeout: TimeSpan.FromMinutes(1));
        await File.WriteAllTextAsync(Path.Combine(_source, "f"), "one\n");
        Directory.CreateDirectory(Path.Combine(_source, "d"));
        File.Create(Path.Combine(_source, "d", "a")).Dispose();
        Assert.Equal("one\na\n", await Shell.OkAsync("cat f && ls d", fs.Path));
        long reads = counts[Opcode.Read], listings = counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus];
        Assert.Equal("one\na\n", await Shell.OkAsync("cat f && ls d", fs.Path));
        if (fine)
        {
            Assert.Equal(reads, counts[Opcode.Read]);
            Assert.Equal(listings, counts[Opcode.ReadDir] + counts[Opcode.ReadDirPlus]);
        }

        // On the host, the same size (only the mtime tells), and a new name: both seen on the next open, at once.
        reads = counts[Opcode.Read];
        await File.WriteAllTextAsync(Path.Combine(_source, "f"), "uno\n");
        File.Create(Path.Combine(_source, "d", "c")).Dispose();
        Assert.Equal("uno\na\nc\n", await Shell.OkAsync("cat f && ls d", fs.Path));
        Assert.True(counts[Opcode.Read] > reads, counts.ToString());

        // Written through the mount: read back as written. The writer's release leaves the stamp unknown (the host
        // could have changed the file meanwhile), so the next open fills the cache afresh and the one after keeps it.
        Assert.Equal("two\ntwo\n", await Shell.OkAsync("echo two > f && cat f && cat f", fs.Path));
        Assert.Equal("two\n", await Shell.OkAsync("cat f", fs.Path));
        reads = counts[Opcode.Read];
        Assert.Equal("two\n", await Shell.OkAsync("cat f", fs.Path));
        if (fine) Assert.Equal(reads, counts[Opcode.Read]);

        // A host change that keeps the size and puts the mtime back (touch -r): the ctime still tells.
        var path = Path.Combine(_source, "f");
        var mtime = File.GetLastWriteTimeUtc(path);
        await File.WriteAllTextAsync(path, "TWO\n");
        File.SetLastWriteTimeUtc(path, mtime);
        Assert.Equal("TWO\n", await Shell.OkAsync("cat f", fs.Path));
    }
}
