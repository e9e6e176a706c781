using FuseActors.Actors.Connection;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>A process blocked in a read the filesystem never answers can be killed, and the daemon keeps serving.</summary>
public sealed class StallingReadTests
{
    private static readonly ConnectionSettings Quick = new()
    {
        InterruptGrace = TimeSpan.FromMilliseconds(500),
        RequestTimeout = TimeSpan.FromSeconds(3),
        SweepInterval = TimeSpan.FromMilliseconds(50),
    };

    // Starts a read of "slow", waits until the reader sleeps in the kernel, kills it, and reports whether it went away.
    private static string KillBlockedReader(string path, string ddFlags) => $$"""
        dd if={{path}} of=/dev/null bs=4096 count=1 {{ddFlags}} 2>/dev/null &
        pid=$!
        sleep 0.5
        state=$(awk '{print $3}' /proc/$pid/stat)
        wchan=$(cat /proc/$pid/wchan 2>/dev/null)
        kill -9 $pid
        for i in $(seq 1 200); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
        if kill -0 $pid 2>/dev/null; then echo "still-alive"; else echo "gone blocked-in=$state:$wchan"; fi
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Killing_a_reader_blocked_in_a_stalled_synchronous_read_frees_it_and_the_daemon_keeps_serving(bool fsHonoursCancellation)
    {
        await using var fs = await MountedFilesystem.StartAsync(StallingFs.Props(fsHonoursCancellation, directIo: true), Quick);
        Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));

        // The kernel sends FUSE_INTERRUPT; either the filesystem answers EINTR, or the engine does after the interrupt grace.
        var output = await Shell.OkAsync(KillBlockedReader(fs["slow"], ""), timeout: TimeSpan.FromSeconds(30));
        Assert.Matches("^gone blocked-in=[SD]:", output.Trim());

        Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));
        Assert.Equal("fast\nslow\n", await Shell.OkAsync($"ls {fs.Path}"));
    }

    [Fact]
    public async Task Killing_a_reader_blocked_in_a_stalled_background_read_is_freed_by_the_request_timeout()
    {
        // Async O_DIRECT reads are background requests: the kernel never interrupts them, so only the engine's
        // request timeout (3 s here) answers the stalled read (EIO) and lets the killed process go.
        await using var fs = await MountedFilesystem.StartAsync(StallingFs.Props(honourCancellation: false, directIo: false), Quick);
        var output = await Shell.OkAsync(KillBlockedReader(fs["slow"], "iflag=direct"), timeout: TimeSpan.FromSeconds(30));
        Assert.Matches("^gone blocked-in=[SD]:", output.Trim());
        Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));
    }
}
