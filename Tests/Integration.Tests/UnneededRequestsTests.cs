using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// A filesystem that keeps no per-open state leaves FLUSH and FSYNC to the FilesystemActor defaults (ENOSYS): the
/// kernel then answers close(2) and fsync(2) itself, without a round trip, and the programs see success.
/// </summary>
public sealed class UnneededRequestsTests
{
    [Fact]
    public async Task Flush_and_fsync_reach_memfs_once_and_then_the_kernel_answers_them_itself()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(), counts));

        // Ten files written, closed and synced by programs that check every step.
        await Shell.OkAsync("for i in $(seq 1 10); do echo data$i > f$i && sync f$i && cat f$i > /dev/null; done", fs.Path);

        Assert.Equal("data7\n", await File.ReadAllTextAsync(fs["f7"]));
        Assert.Equal(1, counts[Opcode.Flush]);
        Assert.Equal(1, counts[Opcode.Fsync]);
        Assert.True(counts[Opcode.Release] >= 20, counts.ToString()); // the opens did reach the filesystem
    }
}
