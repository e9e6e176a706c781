using FuseActors.Actors.Connection;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// An O_DIRECT read with RWF_NOWAIT on a local block device still waits for the device, on the thread that makes it:
/// made on the filesystem actor, the reads of several callers would reach the device one after another. While other
/// requests wait, such a read goes off the actor: on <c>/dev/fuse</c> with several queues, to the reader that handled
/// it, once it has let go of the mailboxes (no thread hop; the other readers serve meanwhile), or to the I/O pool when
/// that reader already has a call waiting or all but one of the readers are taken so; with a single queue always to the pool, whose threads (named
/// passthrough-io) start only when needed, since a call on the only reader would hold up every request of the mount.
/// </summary>
[Collection(ProcessWideCounters.Name)]
public sealed class PassthroughReaderThreadIoTests : IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptreader-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Concurrent_O_DIRECT_reads_on_a_local_device_leave_the_actor_for_the_readers_or_the_pool_and_arrive_whole(int queues)
    {
        if (Environment.UserName != "root") return; // loop mount: root only (CI runs as root)
        await Ext4LoopMount.WithAsync(_temp.Path, "128M", "defaults", async host =>
        {
            await Shell.OkAsync($"head -c 33554432 /dev/urandom > {host}/f && sync");
            await using var fs = await MountedFilesystem.StartAsync(
                PassthroughFs.Props(host, new PassthroughOptions { KernelPassthrough = false }),
                new ConnectionSettings { Queues = queues });
            // One reader first: its reads are made on the actor (the pool may take the odd one that would wait for a lock).
            await Shell.OkAsync($"dd if={fs["f"]} of=/dev/null bs=4k count=2048 iflag=direct status=none");
            int poolBefore = PoolThreads();
            long readerReads = ReaderThreadIo.Reads;
            await Shell.OkAsync($$"""
                set -e
                for j in 1 2 3 4; do dd if={{fs["f"]}} of=part$j bs=4k skip=$((j * 1500)) count=1500 iflag=direct status=none & readers="$readers $!"; done
                for p in $readers; do wait $p; done
                for j in 1 2 3 4; do dd if={{host}}/f bs=4k skip=$((j * 1500)) count=1500 status=none | cmp - part$j; rm part$j; done
                """, _temp.Path, timeout: TimeSpan.FromMinutes(2));
            int poolAfter = PoolThreads();
            readerReads = ReaderThreadIo.Reads - readerReads;
            if (queues == 1)
            {
                Assert.Equal(0, readerReads);
                Assert.True(poolAfter >= 2 && poolAfter > poolBefore, $"I/O pool threads: {poolBefore} after one reader, {poolAfter} after four concurrent readers");
            }
            else
            {
                Assert.True(readerReads >= 100, $"only {readerReads} of 6000 concurrent O_DIRECT READs were made on a device reader");
            }
        });
    }

    /// <summary>Threads of this process (the in-process daemon) named like PassthroughFs's I/O pool threads.</summary>
    private static int PoolThreads() =>
        Directory.GetDirectories("/proc/self/task").Count(t =>
        {
            try { return File.ReadAllText(Path.Combine(t, "comm")).StartsWith("passthrough-io", StringComparison.Ordinal); }
            catch (IOException) { return false; }
        });
}
