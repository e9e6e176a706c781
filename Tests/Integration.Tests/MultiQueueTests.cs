using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Several device queues (FUSE_DEV_IOC_CLONE), each with its own reader thread: concurrent programs are served by
/// more than one queue, on either dispatch mode, and nothing is lost or answered twice.
/// </summary>
public sealed class MultiQueueTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Concurrent_programs_are_spread_over_every_queue_and_lose_no_data(bool inlineDispatch)
    {
        var settings = new ConnectionSettings { Queues = 3, InlineDispatch = inlineDispatch };
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), settings);

        // Writers and readers at once: each process writes its files, reads them back and compares, while `ls`
        // and `stat` run beside them, so requests from many callers are outstanding together.
        var output = await Shell.OkAsync("""
            mkdir work && for p in $(seq 1 6); do
              ( head -c 200000 /dev/urandom > /tmp/fa-mq-$$-$p
                for i in $(seq 1 30); do cp /tmp/fa-mq-$$-$p work/p$p-$i && cmp /tmp/fa-mq-$$-$p work/p$p-$i || echo "MISMATCH p$p-$i";
                  ls -l work > /dev/null; stat work/p$p-$i > /dev/null; done; rm -f /tmp/fa-mq-$$-$p ) &
            done; wait; ls work | wc -l
            """, fs.Path, TimeSpan.FromMinutes(3));
        Assert.Equal("180\n", output);

        var stats = await fs.Mount.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal(3, stats.ReadPerQueue.Count);
        Assert.All(stats.ReadPerQueue, read => Assert.True(read > 0, $"a queue read nothing: {string.Join(", ", stats.ReadPerQueue)}"));

        // RELEASE after the last close is sent in the background, so let the tail drain before checking nothing is stuck.
        for (int i = 0; i < 50 && stats.InFlight != 0; i++)
        {
            await Task.Delay(100);
            stats = await fs.Mount.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(5));
        }
        Assert.Equal(0, stats.InFlight);
    }
}
