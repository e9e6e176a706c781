using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Switches FUSE over io_uring on (the fuse module's enable_uring) for the io_uring tests and restores the previous
/// value afterwards. One instance for the whole collection, so the tests that need it never race on the switch.
/// </summary>
public sealed class UringEnabled : IDisposable
{
    private const string Parameter = "/sys/module/fuse/parameters/enable_uring";
    private readonly string? _previous;

    public UringEnabled()
    {
        if (!File.Exists(Parameter)) return;
        _previous = File.ReadAllText(Parameter).Trim();
        Set(true);
    }

    public static void Set(bool on) => File.WriteAllText(Parameter, on ? "Y" : "N");

    public void Dispose()
    {
        if (_previous is not null) File.WriteAllText(Parameter, _previous);
    }
}

[CollectionDefinition("io_uring", DisableParallelization = true)]
public sealed class UringCollection : ICollectionFixture<UringEnabled>;

/// <summary>A fact that is skipped, saying why, on a kernel without FUSE over io_uring.</summary>
public sealed class UringFactAttribute : FactAttribute
{
    public UringFactAttribute()
    {
        if (IoUringFuseTransport.KernelEnabled() is null)
            Skip = "this kernel has no FUSE over io_uring (/sys/module/fuse/parameters/enable_uring is missing; needs Linux 6.14+ with CONFIG_FUSE_IO_URING)";
    }
}

/// <summary>A theory that is skipped, saying why, on a kernel without FUSE over io_uring.</summary>
public sealed class UringTheoryAttribute : TheoryAttribute
{
    public UringTheoryAttribute()
    {
        if (IoUringFuseTransport.KernelEnabled() is null)
            Skip = "this kernel has no FUSE over io_uring (/sys/module/fuse/parameters/enable_uring is missing; needs Linux 6.14+ with CONFIG_FUSE_IO_URING)";
    }
}

/// <summary>FUSE over io_uring as the transport of a real mount: requests really go over the ring, the transport
/// setting is honoured (and refused clearly when the kernel has it off), interrupts, kills and unmount under load.</summary>
[Collection("io_uring")]
public sealed class IoUringTransportTests(UringEnabled _)
{
    internal static readonly ConnectionSettings Uring = new() { Transport = FuseTransport.IoUring };

    private static async Task<long[]> ReadPerQueue(MountedFilesystem fs) =>
        (await fs.Mount.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(5))).ReadPerQueue.ToArray();

    [UringFact]
    public async Task Requests_go_over_the_ring_queues_and_the_ready_line_says_io_uring()
    {
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring);
        var ready = await fs.Mount.Ready;
        Assert.Equal("io-uring", ready.Transport);
        Assert.True((ready.Flags & InitFlags.OverIoUring) != 0);
        var ring = fs.Mount.IoUring!;
        Assert.Equal(IoUringFuseTransport.PossibleCpus(), ring.Queues.Count);

        var output = await Shell.OkAsync("""
            mkdir d && echo hello > d/f && cat d/f && head -c 3000000 /dev/urandom > big && cp big big2 && cmp big big2 &&
            for cpu in $(seq 0 $(($(nproc) - 1))); do taskset -c $cpu touch new$cpu; taskset -c $cpu mkdir dir$cpu; done && ls d
            """, fs.Path);
        Assert.Equal("hello\nf\n", output);
        Assert.True(ring.RequestsServed > 20, $"only {ring.RequestsServed} requests came over io_uring");
        var perQueue = await ReadPerQueue(fs);
        Assert.Equal(1 + ring.Queues.Count, perQueue.Length);
        // /dev/fuse carried INIT (and perhaps a FORGET); every CPU's queue carried the requests of callers on that CPU
        // (a new name on each CPU: a request the kernel cannot answer from its caches).
        Assert.True(perQueue[1..].Sum() > 5 * perQueue[0], $"per queue: {string.Join(", ", perQueue)}");
        Assert.All(perQueue[1..], n => Assert.True(n > 0, $"a queue served nothing: {string.Join(", ", perQueue)}"));
    }

    [UringFact]
    public async Task Kernel_passthrough_works_for_opens_that_came_over_the_ring()
    {
        // The OPEN arrives on a ring queue, but backing files are registered with an ioctl on /dev/fuse: the queue
        // must still offer it, or every open silently falls back to the daemon's read/write path.
        var source = Directory.CreateTempSubdirectory("fuseactors-uring-kpt-").FullName;
        try
        {
            var counts = new RequestCounts();
            await using var fs = await MountedFilesystem.StartAsync(
                CountingFs.Props(PassthroughFs.Props(source, new PassthroughOptions { KernelPassthrough = true }), counts),
                Uring with { Passthrough = true });
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            await Shell.OkAsync($"""
                set -e
                head -c 4194304 /dev/urandom > big && cmp big {source}/big
                dd if=big of=/dev/null bs=1M iflag=direct status=none
                printf hello | dd of=big bs=1 seek=100 conv=notrunc status=none && cmp big {source}/big
                """, fs.Path);
            Assert.True(fs.Mount.IoUring!.RequestsServed > 0);
            Assert.True(counts[Opcode.Open] + counts[Opcode.Create] >= 3, counts.ToString());
            Assert.True(counts[Opcode.Read] == 0 && counts[Opcode.Write] == 0, $"the daemon saw file I/O: {counts}");
        }
        finally
        {
            try { Directory.Delete(source, recursive: true); } catch (IOException) { }
        }
    }

    [UringFact]
    public async Task Direct_reads_and_writes_of_a_local_disk_file_run_on_the_ring_readers_and_arrive_whole()
    {
        // A passthrough WRITE that must wait for a local device (O_DIRECT) runs on the reader thread of its ring once the
        // mailboxes are let go, not on the I/O pool: no thread hop before its commit. A READ that must wait for it (O_DIRECT,
        // or buffered and missing the host's page cache) is submitted on the ring itself, into its ring entry, and the
        // queue's thread serves on while it is in flight (see One_queues_direct_reads_are_in_flight_together_and_arrive_whole).
        // A buffered READ of what the host has cached is read from the host file straight into its ring entry. Data
        // written and read so, by several processes at once, is exact.
        var source = Directory.CreateTempSubdirectory("fuseactors-uring-direct-").FullName;
        try
        {
            var fsType = (await Shell.OkAsync($"stat -f -c %T {source}")).Trim();
            bool localDisk = fsType is "ext2/ext3" or "xfs" or "btrfs" or "f2fs", inMemory = fsType is "tmpfs" or "ramfs";
            // Kernel cache off: each open reads through the daemon again, so the reads below reach it every time.
            await using var fs = await MountedFilesystem.StartAsync(
                PassthroughFs.Props(source, new PassthroughOptions { KernelPassthrough = false, KeepKernelCache = KernelCacheMode.Off }), Uring);
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            long writes = ReaderThreadIo.Writes;
            await Shell.OkAsync($$"""
                set -e
                trap 'rm -f /tmp/fuseactors-uring-direct.$$' EXIT
                head -c 8388608 /dev/urandom > /tmp/fuseactors-uring-direct.$$
                dd if=/tmp/fuseactors-uring-direct.$$ of=big bs=1M oflag=direct status=none && cmp big {{source}}/big
                for p in 0 1 2 3; do dd if=big of=part$p bs=64k skip=$((p * 32)) count=32 iflag=direct status=none & done; wait
                for p in 0 1 2 3; do dd if=/tmp/fuseactors-uring-direct.$$ bs=64k skip=$((p * 32)) count=32 status=none | cmp - part$p; done
                cp /tmp/fuseactors-uring-direct.$$ expected
                """, fs.Path);
            writes = ReaderThreadIo.Writes - writes;
            // Nothing cached on either side: a buffered READ that misses the host's page cache has to wait; the ring reads
            // it into its entry (a local disk's file), with no copy after.
            long coldRing = RingReads(fs), coldFile = fs.Mount.IoUring!.Queues.Sum(q => q.FileReplies);
            await Shell.OkAsync("sync && echo 3 > /proc/sys/vm/drop_caches && cat big > copy && cmp copy expected", fs.Path);
            coldRing = RingReads(fs) - coldRing;
            coldFile = fs.Mount.IoUring!.Queues.Sum(q => q.FileReplies) - coldFile;
            // Read once more with the host's page cache holding the whole file: every buffered READ is read from the host
            // file straight into its ring entry.
            long fromFile = fs.Mount.IoUring!.Queues.Sum(q => q.FileReplies);
            await Shell.OkAsync($"cat {source}/big > /dev/null && cat big | cmp - {source}/big", fs.Path);
            fromFile = fs.Mount.IoUring!.Queues.Sum(q => q.FileReplies) - fromFile;
            // (A SOURCE on anything else, overlayfs say, keeps the copy: only the data is checked there.)
            if (localDisk || inMemory)
                Assert.True(fromFile >= 8, $"only {fromFile} READs of the 8 MiB file were read into their ring entries");
            // One O_DIRECT reader at a time: each READ is read by the ring into its entry (page-aligned), with no copy in the
            // daemon, where SOURCE is on a local disk.
            long ringReads = RingReads(fs);
            await Shell.OkAsync($"dd if=big bs=1M iflag=direct status=none | cmp - {source}/big", fs.Path);
            ringReads = RingReads(fs) - ringReads;
            // Where SOURCE is on tmpfs the host answers at once and every call runs inline: only the data is checked.
            if (localDisk)
            {
                Assert.True(ringReads >= 4, $"only {ringReads} of 8 O_DIRECT READs were read by the ring into their entries");
                Assert.True(writes >= 4, $"only {writes} WRITEs (of 8 MiB in 1 MiB O_DIRECT writes) ran on a device reader");
                // (One that found part of its range cached still goes through a buffer: at least the first READ did not.)
                Assert.True(coldRing >= 1, $"none of the cold buffered READs was read by the ring into its entry "
                    + $"({coldFile} were read from the host's page cache)");
                // There the data went from the ring entry to the host file with no copy in the daemon.
                long inPlace = fs.Mount.IoUring!.Queues.Sum(q => q.InPlaceWrites);
                Assert.True(inPlace >= 4, $"only {inPlace} WRITEs were written from the ring entry in place");
                Assert.Equal(0, fs.Mount.IoUring!.Queues.Sum(q => q.CommitCopies)); // nor copied out when their entry went back
            }
        }
        finally
        {
            try { Directory.Delete(source, recursive: true); } catch (IOException) { }
        }
    }

    private static long RingReads(MountedFilesystem fs) => fs.Mount.IoUring!.Queues.Sum(q => q.RingFileReads);

    [UringTheory]
    [InlineData(1)]
    [InlineData(64)]
    public async Task One_queues_direct_reads_are_in_flight_together_and_arrive_whole(int maxInFlight)
    {
        // A READ that waits for a local disk is submitted on its queue's ring, and the queue's thread serves the next
        // requests while it is in flight. Read on that thread, as before, one CPU's queue read one block at a time: four
        // callers the scheduler had put on one CPU ran at half the rate of four spread over two. Here four O_DIRECT readers
        // on CPU 0 have their reads in flight together, and the data of each is exact, also where the last block of the
        // file is short (the ring's read is cut short there and read again the usual way). With max-in-flight 1 the queue's
        // reader waits for credit with a read in flight, which only it can end: it ends it while it waits.
        var source = Directory.CreateTempSubdirectory("fuseactors-uring-ringread-").FullName;
        try
        {
            var fsType = (await Shell.OkAsync($"stat -f -c %T {source}")).Trim();
            await using var fs = await MountedFilesystem.StartAsync(
                PassthroughFs.Props(source, new PassthroughOptions { KernelPassthrough = false, KeepKernelCache = KernelCacheMode.Off }),
                Uring with { MaxInFlight = maxInFlight });
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            long before = RingReads(fs);
            await Shell.OkAsync($$"""
                set -e
                head -c 8392704 /dev/urandom > {{source}}/big   # 8 MiB and 4 KiB: 2049 blocks
                head -c 1000 /dev/urandom >> {{source}}/big      # and a short last block
                for p in 0 1 2 3; do taskset -c 0 dd if=big of={{source}}/part$p bs=4k skip=$((p * 513)) count=513 iflag=direct status=none & done; wait
                for p in 0 1 2 3; do dd if={{source}}/big bs=4k skip=$((p * 513)) count=513 status=none | cmp - {{source}}/part$p; done
                taskset -c 0 dd if=big bs=4k skip=2049 iflag=direct status=none | cmp - <(tail -c 1000 {{source}}/big)
                """, fs.Path);
            long ringReads = RingReads(fs) - before;
            int most = fs.Mount.IoUring!.Queues.Max(q => q.MostFileReadsInFlight);
            if (fsType is "ext2/ext3" or "xfs" or "btrfs" or "f2fs")
            {
                Assert.True(ringReads >= 2000, $"only {ringReads} of the 2049 whole-block O_DIRECT READs were read by the ring");
                if (maxInFlight > 1) Assert.True(most >= 2, $"the queue never had more than {most} read in flight");
            }
        }
        finally
        {
            try { Directory.Delete(source, recursive: true); } catch (IOException) { }
        }
    }

    [UringTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Large_writes_to_memfs_are_taken_from_the_ring_entry_on_its_thread_or_copied_elsewhere_and_arrive_whole(bool inlineDispatch)
    {
        // A WRITE of 32 KiB or more leaves its data in the ring entry. memfs's handler on the queue's thread (inline
        // dispatch) copies it into the file from there; on a dispatcher thread it is copied into the request's buffer
        // first. Either way the file holds exactly what was written, across sizes, offsets and writers at once.
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring with { InlineDispatch = inlineDispatch });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        await Shell.OkAsync("""
            set -e
            trap 'rm -f /tmp/fuseactors-uring-w.$$' EXIT
            head -c 6291559 /dev/urandom > /tmp/fuseactors-uring-w.$$
            dd if=/tmp/fuseactors-uring-w.$$ of=direct bs=1M oflag=direct status=none && cmp direct /tmp/fuseactors-uring-w.$$
            dd if=/tmp/fuseactors-uring-w.$$ of=small bs=40k status=none && cmp small /tmp/fuseactors-uring-w.$$
            for p in 0 1 2 3; do dd if=/tmp/fuseactors-uring-w.$$ of=shared bs=64k seek=$((p * 24)) skip=$((p * 24)) count=24 conv=notrunc oflag=direct status=none & done; wait
            cmp -n 6291456 shared /tmp/fuseactors-uring-w.$$
            """, fs.Path);
        long inPlace = fs.Mount.IoUring!.Queues.Sum(q => q.InPlaceWrites);
        if (inlineDispatch) Assert.True(inPlace >= 4, $"only {inPlace} WRITEs were taken from the ring entry in place");
        else Assert.Equal(0, inPlace); // handled on a dispatcher thread: copied, never leased
        // Every WRITE was answered by memfs, which was done with its data by then: no entry went back with a copy.
        Assert.Equal(0, fs.Mount.IoUring!.Queues.Sum(q => q.CommitCopies));
    }

    [UringTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Files_removed_over_io_uring_are_deleted_on_the_host_once_forgotten_closed_off_the_queue_threads(bool kernelPassthrough)
    {
        // The last close of an unlinked host file is where the host deletes it. A FORGET handled on a queue's thread (it
        // found the mailboxes busy there) hands the descriptor to the filesystem's closer thread, so the caller's next
        // request to that queue does not wait for the deletion; the reader beside the queues closes what it handles
        // itself. Either way no descriptor of a deleted file stays open in the daemon.
        var source = Directory.CreateTempSubdirectory("fuseactors-uring-forget-").FullName;
        try
        {
            await using var fs = await MountedFilesystem.StartAsync(
                PassthroughFs.Props(source, new PassthroughOptions { KernelPassthrough = kernelPassthrough }), Uring);
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            long closedBefore = DescriptorCloser.ClosedInProcess, byCloser = 0;
            // How many FORGETs find a queue's thread in the mailboxes varies (15 to 337 of 400 in four runs here): up to
            // five rounds of 400 until some did. None at all would mean the queue threads still close them themselves.
            for (int round = 0; round < 5 && byCloser == 0; round++)
            {
                await Shell.OkAsync("""
                    set -e
                    mkdir -p d && for i in $(seq 1 400); do echo $i > d/f$i; done
                    taskset -c 0 rm d/f*
                    """, fs.Path, TimeSpan.FromSeconds(60));
                Assert.Empty(Directory.GetFiles(Path.Combine(source, "d")));
                List<string> open = OwnDescriptors.DeletedUnder(source);
                for (int i = 0; i < 100 && open.Count > 0; i++)
                {
                    await Task.Delay(50);
                    open = OwnDescriptors.DeletedUnder(source);
                }
                Assert.Empty(open);
                byCloser = DescriptorCloser.ClosedInProcess - closedBefore;
            }
            Assert.True(byCloser >= 1, "no descriptor was handed to the closer thread in 2000 removals");
            Assert.Equal("again\n", await Shell.OkAsync("echo again > d/f1 && cat d/f1", fs.Path));
        }
        finally
        {
            try { Directory.Delete(source, recursive: true); } catch (IOException) { }
        }
    }

    [UringFact]
    public async Task A_lease_of_WRITE_data_the_filesystem_never_disposes_is_ended_by_the_engine_and_its_ring_entry_goes_back()
    {
        // LeaseLeftOpenFs takes every large WRITE's data in place and never ends the lease. Held, a leased entry was never
        // committed: after eight such WRITEs (the queue's depth) on one CPU that CPU's queue had no entry left and the
        // next request there waited for good. The engine now ends the lease once the handler has returned (nothing can
        // still use it then: a lease is a ref struct), so 24 one-MiB O_DIRECT writes from one CPU all complete, and the
        // file holds exactly what was written.
        await using var fs = await MountedFilesystem.StartAsync(LeaseLeftOpenFs.Props(), Uring);
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        await Shell.OkAsync("""
            set -e
            trap 'rm -f /tmp/fuseactors-uring-lease.$$' EXIT
            head -c 25165824 /dev/urandom > /tmp/fuseactors-uring-lease.$$
            taskset -c 0 dd if=/tmp/fuseactors-uring-lease.$$ of=f bs=1M oflag=direct conv=notrunc status=none
            cmp f /tmp/fuseactors-uring-lease.$$
            """, fs.Path, TimeSpan.FromSeconds(60));
        long leased = fs.Mount.IoUring!.Queues.Sum(q => q.InPlaceWrites);
        long ended = fs.Mount.IoUring!.Queues.Sum(q => q.LeasesLeftOpen);
        // More than the queue's 8 entries: before, the ninth would have waited for good. (A WRITE that met its mailbox
        // running elsewhere, the deadline sweep's say, is copied instead of leased.)
        Assert.True(leased > 8, $"only {leased} of the 24 WRITEs were leased in place");
        Assert.Equal(leased, ended);
    }

    [UringFact]
    public async Task A_large_WRITE_the_engine_answers_before_the_filesystem_read_it_keeps_its_data_when_the_ring_entry_is_refilled()
    {
        // The engine's timeout answers each held WRITE; committing its ring entry lets the kernel put a later WRITE into
        // the same buffer, so the data must be copied out first: the filesystem, reading it only after that and after
        // later WRITEs came, must see exactly the block it was sent. The writer stays on one CPU, so every block goes
        // through one queue, whose entries the later blocks refill.
        var seen = new HeldWrites();
        await using var fs = await MountedFilesystem.StartAsync(HeldWriteFs.Props(MemoryFs.Props(), seen),
            Uring with { RequestTimeout = TimeSpan.FromMilliseconds(300), SweepInterval = TimeSpan.FromMilliseconds(50) });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        const int blocks = 12;
        await Shell.OkAsync($$"""
            : > f
            for k in $(seq 0 {{blocks - 1}}); do
              head -c 1048576 /dev/zero | tr '\0' "\\$(printf %03o $((k + 1)))" | taskset -c 0 dd of=f bs=1M seek=$k iflag=fullblock oflag=direct conv=notrunc status=none 2>/dev/null || true
            done
            """, fs.Path, TimeSpan.FromSeconds(60));
        // The last block has no later WRITE: it stays held. The others are checked once answered.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (seen.Checked < blocks - 1 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(seen.Checked >= blocks - 1, $"only {seen.Checked} held WRITEs were checked");
        Assert.Equal(0, seen.Wrong);
        Assert.True(fs.Mount.IoUring!.Queues.Sum(q => q.CommitCopies) >= blocks - 1, "each early answer copied its data out before the commit");
    }

    [UringTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reads_of_a_file_memfs_keeps_in_a_memfd_are_read_straight_into_the_ring_entry_and_arrive_whole(bool inlineDispatch)
    {
        // Above 1 MiB memfs keeps a file in a memfd and answers READ with ReplyFromFile: the queue preads into its
        // entry's buffer, on the queue's own thread (inline dispatch) or on a pool thread (the commit then goes through
        // the queue's eventfd). Direct and buffered reads, unaligned offsets and the short read at the end come back exact.
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring with { InlineDispatch = inlineDispatch });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        await Shell.OkAsync("""
            set -e
            trap 'rm -f /tmp/fuseactors-uring-src.$$' EXIT
            head -c 5242999 /dev/urandom > /tmp/fuseactors-uring-src.$$ && cp /tmp/fuseactors-uring-src.$$ big
            echo 3 > /proc/sys/vm/drop_caches
            dd if=big of=copy-direct bs=1M iflag=direct status=none && cmp copy-direct /tmp/fuseactors-uring-src.$$
            cat big > copy-buffered && cmp copy-buffered /tmp/fuseactors-uring-src.$$
            dd if=big bs=4097 skip=777 count=3 iflag=skip_bytes,direct status=none > part
            dd if=/tmp/fuseactors-uring-src.$$ bs=4097 skip=777 count=3 iflag=skip_bytes status=none | cmp - part
            test "$(dd if=big bs=1M skip=5 iflag=direct status=none | wc -c)" = 119
            """, fs.Path);
        long direct = fs.Mount.IoUring!.Queues.Sum(q => q.FileReplies);
        Assert.True(direct >= 8, $"only {direct} READs were read straight into a ring entry");
    }

    [UringFact]
    public async Task A_reply_given_on_the_queue_thread_reaches_its_caller_before_the_work_that_thread_does_after_the_mailboxes()
    {
        // The reply used to wait in the ring for the queue's next io_uring_enter, after everything the thread did first:
        // here up to a minute of after-mailbox work, which held the stat as long. Now the commit is submitted when the
        // reply is written, since no other request waits in the ring.
        var linger = new Linger();
        try
        {
            // No deadline sweep during the test: its tick runs the connection's mailbox on the thread pool, and a LOOKUP
            // that met that run would be handled there, not on the queue's thread.
            await using var fs = await MountedFilesystem.StartAsync(LingeringFs.Props(linger), Uring with { SweepInterval = TimeSpan.FromMinutes(5) });
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            try
            {
                var stat = Shell.OkAsync("stat -c %i linger", fs.Path, timeout: TimeSpan.FromSeconds(50));
                var first = await Task.WhenAny(stat, Task.Delay(TimeSpan.FromSeconds(20)));
                Assert.True(ReferenceEquals(first, stat), "the stat waited for the work after the reply");
                Assert.Equal($"{LingeringFs.FileNode}\n", await stat);
                Assert.False(linger.Ended, "the LOOKUP's after-mailbox work ended before the stat returned");
            }
            finally
            {
                linger.Release(); // before the unmount: the queue's thread is back to serve it
            }
            for (int i = 0; i < 100 && !linger.Ended; i++) await Task.Delay(50);
            Assert.True(linger.Ended);
            Assert.True(linger.RanAfterMailboxes, "the work ran in the handler, not after the mailboxes on the queue's thread");
            Assert.Equal($"{LingeringFs.FileNode}\n", await Shell.OkAsync("stat -c %i linger", fs.Path));
        }
        finally
        {
            linger.Dispose();
        }
    }

    [UringFact]
    public async Task Replies_from_other_threads_reach_the_ring_on_the_default_dispatcher()
    {
        // With Akka's default dispatcher the reply is written on a pool thread, never the queue's own: the queue
        // is woken through its eventfd to submit the commit.
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring with { InlineDispatch = false });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        var output = await Shell.OkAsync("""
            for i in $(seq 1 50); do echo $i > f$i; done; cat f1 f50; ls | wc -l
            """, fs.Path);
        Assert.Equal("1\n50\n50\n", output);
        Assert.True(fs.Mount.IoUring!.RequestsServed > 100);
    }

    [UringFact]
    public async Task Asking_for_io_uring_while_the_kernel_has_it_off_fails_the_mount_saying_how_to_turn_it_on()
    {
        UringEnabled.Set(false);
        try
        {
            var e = await Assert.ThrowsAsync<FuseDeviceException>(() => MountedFilesystem.StartAsync(MemoryFs.Props(), Uring));
            Assert.Contains("enable_uring", e.Message);
            Assert.Equal(Errno.EOPNOTSUPP, e.Errno);

            // auto falls back to /dev/fuse and says so.
            await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), new ConnectionSettings { Transport = FuseTransport.Auto });
            Assert.Equal("/dev/fuse", (await fs.Mount.Ready).Transport);
            Assert.Null(fs.Mount.IoUring);
            Assert.Equal("x\n", await Shell.OkAsync("echo x > a && cat a", fs.Path));
        }
        finally
        {
            UringEnabled.Set(true);
        }
    }

    [UringFact]
    public async Task Where_this_process_may_not_make_an_io_uring_asking_for_it_fails_clearly_and_auto_takes_dev_fuse()
    {
        // Before, INIT asked for io_uring all the same, every queue's ring failed, and the kernel held every request
        // for rings that never registered: the mount hung.
        const string sysctl = "/proc/sys/kernel/io_uring_disabled"; // Linux 6.6+, so every kernel with FUSE over io_uring
        Assert.Null(IoUringFuseTransport.Unavailable());
        var previous = File.ReadAllText(sysctl).Trim();
        File.WriteAllText(sysctl, "2"); // io_uring_setup fails with EPERM for every process, root included
        try
        {
            Assert.Contains("may not make an io_uring (EPERM", IoUringFuseTransport.Unavailable());
            // What FuseMount asks before INIT: auto comes to /dev/fuse, saying why, and io-uring fails the mount.
            Assert.Equal(FuseTransport.Device, IoUringFuseTransport.Resolve(FuseTransport.Auto, out var why));
            Assert.Contains("may not make an io_uring", why);
            var e = await Assert.ThrowsAsync<FuseDeviceException>(() => MountedFilesystem.StartAsync(MemoryFs.Props(), Uring));
            Assert.Contains("may not make an io_uring", e.Message);
            Assert.Equal(Errno.EOPNOTSUPP, e.Errno);
        }
        finally
        {
            File.WriteAllText(sysctl, previous); // the machine's setting back at once
        }
    }

    [UringFact]
    public async Task Idle_ring_queues_hold_no_read_credit_so_fewer_credits_than_queues_still_serve()
    {
        // There is a queue per possible CPU. Each used to hold a read credit while it waited, and so did the /dev/fuse
        // reader beside them: where they reached max-in-flight, some queue never got one, never registered its ring,
        // and the mount hung. Here one credit serves them all, one request at a time.
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring with { MaxInFlight = 1 });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        Assert.Equal(IoUringFuseTransport.PossibleCpus(), fs.Mount.IoUring!.Queues.Count);
        var output = await Shell.OkAsync("""
            for i in $(seq 1 50); do echo $i > f$i & done; wait; cat f1 f50; ls | wc -l
            """, fs.Path);
        Assert.Equal("1\n50\n50\n", output);
    }

    [UringTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Queue_threads_run_under_SCHED_IDLE_only_when_asked_and_serve_requests_either_way(bool idlePriority)
    {
        if (!IoUringFuseTransport.CanSetIdlePriority) return; // an architecture whose system call numbers the transport lacks
        var policies = new TaskCompletionSource<(int Handler, int Started)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var fs = await MountedFilesystem.StartAsync(ThreadStartingFs.Props(MemoryFs.Props(), policies),
            Uring with { IoUringIdlePriority = idlePriority });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        var output = await Shell.OkAsync("""
            for cpu in $(seq 0 $(($(nproc) - 1))); do taskset -c $cpu sh -c "echo $cpu > f$cpu && cat f$cpu && stat -c %s f$cpu"; done
            """, fs.Path);
        Assert.Equal(string.Concat(Enumerable.Range(0, Environment.ProcessorCount).Select(c => $"{c}\n{$"{c}\n".Length}\n")), output);
        Assert.True(fs.Mount.IoUring!.RequestsServed > 0);
        foreach (var queue in fs.Mount.IoUring!.Queues)
        {
            // Every queue sets its ring up on its own thread once INIT is answered; the CPUs above each sent one a request.
            for (int i = 0; i < 100 && queue.ThreadId == 0; i++) await Task.Delay(50);
            Assert.NotEqual(0, queue.ThreadId);
            Assert.Equal(idlePriority, queue.AtIdlePriority);
            Assert.Equal(idlePriority ? 5 : 0, ThreadStats.Policy(queue.ThreadId)); // SCHED_IDLE : SCHED_OTHER
        }
        // A thread the filesystem starts from a queue thread (a worker started lazily) begins at the normal policy: the
        // runtime does not pass SCHED_IDLE on to the threads it starts.
        var (handler, started) = await policies.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(idlePriority ? 5 : 0, handler);
        Assert.Equal(0, started);
        // The /dev/fuse reader (INIT, FORGET, INTERRUPT) keeps the normal policy.
        var control = ThreadStats.ThreadsNamed("fuse-reader-0").ToList();
        Assert.NotEmpty(control);
        Assert.All(control, tid => Assert.Contains(ThreadStats.Policy(tid), new[] { 0, -1 })); // -1: ended meanwhile
        // The mount warns when this process shares its session's scheduling group; field 6 of /proc/self/stat is the session.
        Assert.Equal(ThreadStats.Session() == Environment.ProcessId, IoUringFuseTransport.ProcessLeadsItsSession);
        if (!idlePriority)
        {
            Assert.Equal(0, fs.Mount.IoUring.ResetInheritedIdlePolicies());
            return;
        }
        // The runtime's native threads (the background GC's, started by a collection a queue thread set off) inherit
        // SCHED_IDLE: the transport's guard sets threads of the runtime's names back, and leaves other threads and the
        // queue threads as they are. Two stand-ins put themselves under SCHED_IDLE here, as inheriting would (each
        // checks that the call took). The guard's own timer may get to the first one before the call below does.
        using var release = new ManualResetEventSlim();
        var runtimeLike = StartIdleThread(".NET stand-in", release);
        var someoneElses = StartIdleThread("chose-idle", release);
        try
        {
            fs.Mount.IoUring.ResetInheritedIdlePolicies();
            Assert.Equal(0, ThreadStats.Policy(runtimeLike.Tid));
            Assert.Equal(5, ThreadStats.Policy(someoneElses.Tid));
            Assert.All(fs.Mount.IoUring.Queues, q => Assert.Equal(5, ThreadStats.Policy(q.ThreadId)));
        }
        finally
        {
            release.Set();
            runtimeLike.Thread.Join();
            someoneElses.Thread.Join();
        }
    }

    private static (Thread Thread, int Tid) StartIdleThread(string name, ManualResetEventSlim release)
    {
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                int priority = 0;
                int tid = ThreadStats.ThisThreadId();
                started.SetResult(SchedSetscheduler(0, 5, ref priority) == 0 ? tid : -1);
            }
            catch (Exception e) { started.TrySetException(e); }
            release.Wait();
        }) { Name = name, IsBackground = true };
        thread.Start();
        int tid = started.Task.Result;
        Assert.True(tid > 0, "sched_setscheduler(SCHED_IDLE) failed");
        return (thread, tid);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sched_setscheduler")]
    private static extern int SchedSetscheduler(int pid, int policy, ref int priority);

    [UringFact]
    public async Task Auto_takes_io_uring_when_the_kernel_offers_it()
    {
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), new ConnectionSettings { Transport = FuseTransport.Auto });
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        Assert.Equal("x\n", await Shell.OkAsync("echo x > a && cat a", fs.Path));
        Assert.True(fs.Mount.IoUring!.RequestsServed > 0);
    }

    private static string KillBlockedReader(string path) => $$"""
        dd if={{path}} of=/dev/null bs=4096 count=1 2>/dev/null &
        pid=$!
        sleep 0.5
        state=$(awk '{print $3}' /proc/$pid/stat)
        kill -9 $pid
        for i in $(seq 1 200); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
        if kill -0 $pid 2>/dev/null; then echo "still-alive"; else echo "gone blocked-in=$state"; fi
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Killing_a_reader_blocked_in_a_stalled_read_frees_it_and_the_daemon_keeps_serving(bool fsHonoursCancellation)
    {
        if (IoUringFuseTransport.KernelEnabled() is null) return; // see UringFact
        var settings = Uring with
        {
            InterruptGrace = TimeSpan.FromMilliseconds(500),
            RequestTimeout = TimeSpan.FromSeconds(3),
            SweepInterval = TimeSpan.FromMilliseconds(50),
        };
        await using var fs = await MountedFilesystem.StartAsync(StallingFs.Props(fsHonoursCancellation, directIo: true), settings);
        Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
        Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));

        // The read came over the ring; its FUSE_INTERRUPT comes over /dev/fuse, and the answer (EINTR, from the
        // filesystem or after the interrupt grace) goes back through the ring entry.
        var output = await Shell.OkAsync(KillBlockedReader(fs["slow"]), timeout: TimeSpan.FromSeconds(30));
        Assert.Matches("^gone blocked-in=[SD]", output.Trim());

        // The entry came back: the queue keeps serving (on each CPU).
        for (int i = 0; i < 3; i++)
            Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));
        Assert.Equal("fast\nslow\n", await Shell.OkAsync($"ls {fs.Path}"));
        Assert.True(fs.Mount.IoUring!.RequestsServed > 3);
    }

    [UringFact]
    public async Task Interrupting_a_blocked_read_with_a_signal_answers_it_through_the_ring()
    {
        var settings = Uring with { InterruptGrace = TimeSpan.FromMilliseconds(300), SweepInterval = TimeSpan.FromMilliseconds(50) };
        await using var fs = await MountedFilesystem.StartAsync(StallingFs.Props(honourCancellation: true, directIo: true), settings);
        // A handled signal (not a kill): the kernel sends FUSE_INTERRUPT over /dev/fuse, the filesystem answers EINTR through
        // the ring entry, and the read ends with EINTR (Python then runs the handler, which raises instead of retrying).
        var output = await Shell.OkAsync($$"""
            python3 - <<'EOF'
            import os, signal, errno
            class Alarm(Exception): pass
            def on_alarm(*a): raise Alarm()
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            fd = os.open("{{fs["slow"]}}", os.O_RDONLY)
            try:
                os.read(fd, 4096)
                print("read returned")
            except Alarm:
                print("EINTR")
            except OSError as e:
                print(errno.errorcode.get(e.errno, e.errno))
            EOF
            """, timeout: TimeSpan.FromSeconds(30));
        Assert.Equal("EINTR\n", output);
        Assert.Equal("fast file\n", await Shell.OkAsync($"cat {fs["fast"]}"));
    }

    [UringFact]
    public async Task Unmount_during_load_ends_the_connection_and_leaves_no_mount()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring);
        await using (fs)
        {
            Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
            await UnmountTests.UnmountUnderLoadAsync(fs, () => Assert.True(fs.Mount.IoUring!.RequestsServed > 100));
        }
    }

    [UringFact]
    public async Task Unmounting_while_ring_reads_are_in_flight_ends_every_read_and_closes_every_host_file()
    {
        // Eight programs keep O_DIRECT reads of a local disk's file in flight on the rings when the mount is taken away.
        // Each read the reader no longer waits for is still ended (waited for while its ring lives, told it sent nothing
        // once the ring is gone), so every program gets its data or an error and ends, no mount stays, and no host file's
        // descriptor stays open in the daemon (a read never ended would hold its handle's for good).
        var source = Directory.CreateTempSubdirectory("fuseactors-uring-ringstop-").FullName;
        try
        {
            await Shell.OkAsync("head -c 8388608 /dev/urandom > big", source);
            var fsType = (await Shell.OkAsync($"stat -f -c %T {source}")).Trim();
            bool localDisk = fsType is "ext2/ext3" or "xfs" or "btrfs" or "f2fs"; // elsewhere no READ goes by the ring
            var fs = await MountedFilesystem.StartAsync(
                PassthroughFs.Props(source, new PassthroughOptions { KernelPassthrough = false, KeepKernelCache = KernelCacheMode.Off }), Uring);
            await using (fs)
            {
                Assert.Equal("io-uring", (await fs.Mount.Ready).Transport);
                var load = Shell.RunAsync("""
                    for p in 1 2 3 4 5 6 7 8; do
                      ( for i in $(seq 1 100000); do
                          dd if=big of=/dev/null bs=256k count=4 skip=$((RANDOM % 28)) iflag=direct status=none 2>/dev/null || exit 0
                        done ) &
                    done; wait; echo done
                    """, fs.Path, timeout: TimeSpan.FromMinutes(1));
                await Task.Delay(1500);
                Assert.False(load.IsCompleted, "the load should still be running when the unmount starts");
                if (localDisk) Assert.True(RingReads(fs) > 50, $"only {RingReads(fs)} READs were read by the rings before the unmount");
                await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30));
                await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
                var result = await load.WaitAsync(TimeSpan.FromSeconds(60));
                Assert.Equal("done\n", result.Stdout);
                Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
            }
            // The filesystem has stopped with its actor system: nothing of SOURCE is open any more.
            var open = new List<string>();
            foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(source, StringComparison.Ordinal)) open.Add(target);
                }
                catch (IOException) { } // closed meanwhile
            }
            Assert.Empty(open);
        }
        finally
        {
            try { Directory.Delete(source, recursive: true); } catch (IOException) { }
        }
    }

    [UringFact]
    public async Task A_plain_unmount_of_an_idle_mount_ends_every_queue()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), Uring);
        await using (fs)
        {
            Assert.Equal("x\n", await Shell.OkAsync("echo x > a && cat a", fs.Path));
            await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(20));
            await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
        }
    }
}

/// <summary>The POSIX program suite on MemoryFs mounted with FUSE over io_uring.</summary>
[Collection("io_uring")]
public sealed class IoUringMemoryFsPosixTests(UringEnabled _) : PosixProgramTests
{
    protected override Props CreateFilesystem() => MemoryFs.Props();
    protected override ConnectionSettings? Settings => IoUringTransportTests.Uring;
}
