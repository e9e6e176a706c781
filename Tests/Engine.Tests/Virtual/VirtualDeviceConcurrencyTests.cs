using System.Collections.Concurrent;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>
/// The same invariants as the property tests, with real concurrency: callers on the thread pool signalled at random
/// moments, a blocking reader thread, and two replier threads answering out of order.
/// </summary>
public sealed class VirtualDeviceConcurrencyTests
{
    [Fact]
    public async Task Concurrent_callers_signals_reader_and_repliers_keep_every_invariant()
    {
        using var d = new VirtualDevice(new VirtualDeviceOptions { MaxOutstanding = 4 });
        var work = new BlockingCollection<RawRequest>();
        var tally = new ConcurrentDictionary<ulong, long>();
        var answered = new ConcurrentDictionary<ulong, byte>();
        int torn = 0;

        var reader = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[1 << 17];
            while (true)
            {
                int n = d.Read(buffer);
                if (n == -(int)Errno.ENODEV) break;
                if (n < 0) { Interlocked.Increment(ref torn); continue; }
                var h = System.Runtime.InteropServices.MemoryMarshal.Read<FuseInHeader>(buffer);
                if (h.Len != n) { Interlocked.Increment(ref torn); continue; }
                var r = FakeDaemon.Parse(buffer.AsSpan(0, n));
                switch (r.Opcode)
                {
                    case Opcode.Forget: tally.AddOrUpdate(r.NodeId, -(long)r.Arg<FuseForgetIn>().NLookup, (_, v) => v - (long)r.Arg<FuseForgetIn>().NLookup); break;
                    case Opcode.BatchForget:
                        for (int i = 0; i < r.Arg<FuseBatchForgetIn>().Count; i++)
                        {
                            var one = r.Arg<FuseForgetOne>(8 + 16 * i);
                            tally.AddOrUpdate(one.NodeId, -(long)one.NLookup, (_, v) => v - (long)one.NLookup);
                        }
                        break;
                    default: work.Add(r); break;
                }
            }
            work.CompleteAdding();
        }, TaskCreationOptions.LongRunning);

        var daemon = new FakeDaemon(d);
        var repliers = Enumerable.Range(0, 2).Select(seed => Task.Factory.StartNew(() =>
        {
            var rnd = new Random(seed);
            foreach (var r in work.GetConsumingEnumerable())
            {
                for (int spin = rnd.Next(200); spin > 0; spin--) Thread.SpinWait(10);
                switch (r.Opcode)
                {
                    case Opcode.Init: daemon.Reply(r.Unique, new FuseInitOut { Major = 7, Minor = 45, MaxWrite = 65536 }); break;
                    case Opcode.Interrupt: if (rnd.Next(4) == 0) daemon.ReplyError(r.Unique, Errno.EAGAIN); break;
                    case Opcode.Lookup:
                    {
                        ulong node = 100 + (ulong)rnd.Next(8);
                        tally.AddOrUpdate(node, 1, (_, v) => v + 1); // counted before the write, as a daemon must
                        int w = daemon.ReplyEntry(r.Unique, node);
                        if (w < 0) tally.AddOrUpdate(node, -1, (_, v) => v - 1);
                        else Assert.True(answered.TryAdd(r.Unique, 0), "answered twice");
                        break;
                    }
                    case Opcode.GetAttr:
                        if (daemon.ReplyAttr(r.Unique, r.NodeId, r.NodeId == 1 ? Posix.S_IFDIR | 0x1ED : Posix.S_IFREG | 0x1A4) > 0)
                            Assert.True(answered.TryAdd(r.Unique, 0), "answered twice");
                        break;
                    default:
                        daemon.ReplyEmpty(r.Unique);
                        break;
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        Assert.True(await d.WhenInitialized.Within());
        var client = new VfsClient(d, options: new VfsClientOptions { UseAttrCache = false, UseNegativeEntryCache = false });
        int eintr = 0, ok = 0;
        var callers = Enumerable.Range(0, 8).Select(seed => Task.Run(async () =>
        {
            var rnd = new Random(1000 + seed);
            for (int i = 0; i < 150; i++)
            {
                using var cts = new CancellationTokenSource();
                Task<VfsEntry> op = client.LookupAsync(1, $"c{seed}-{i}", cts.Token);
                if (rnd.Next(3) == 0)
                {
                    for (int spin = rnd.Next(300); spin > 0; spin--) Thread.SpinWait(10);
                    cts.Cancel();
                }
                try
                {
                    var e = await op.ConfigureAwait(false);
                    Interlocked.Increment(ref ok);
                    if (rnd.Next(2) == 0)
                    {
                        using var cts2 = new CancellationTokenSource();
                        var attr = client.GetAttrAsync(e.NodeId, null, cts2.Token);
                        if (rnd.Next(2) == 0) cts2.Cancel();
                        try { await attr.ConfigureAwait(false); } catch (FuseErrnoException x) when (x.IsInterrupted) { }
                    }
                    if (rnd.Next(4) == 0) _ = client.ReleaseAsync(new VfsHandle(e.NodeId, 1, 0, 0));
                    client.Forget(e.NodeId);
                }
                catch (FuseErrnoException x) when (x.IsInterrupted)
                {
                    Interlocked.Increment(ref eintr);
                }
            }
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(20));

        // Let the daemon finish the late replies and forgets, then check.
        var deadline = DateTime.UtcNow + FakeDaemon.Timeout;
        while (d.Stats() is var s && (s.Pending + s.Processing + s.Background + s.ForgetsQueued + s.Copying > 0 || s.Credit != s.MaxOutstanding))
        {
            Assert.True(DateTime.UtcNow < deadline, $"did not quiesce: {d.Stats()}");
            await Task.Delay(1);
        }
        var stats = d.Stats();
        Assert.Equal((stats.MaxOutstanding, 0, 0, 0), (stats.Credit, stats.Debt, stats.BackgroundReferences, stats.NodeReferences));
        Assert.True(ok > 0 && eintr > 0, $"ok={ok} eintr={eintr}: the run should mix both");

        d.Dispose();
        await reader.Within();
        await Task.WhenAll(repliers).Within();
        Assert.Equal(0, torn);
        Assert.All(tally, kv => Assert.Equal(0, kv.Value)); // every lookup the daemon handed out came back
        Assert.DoesNotContain(d.LookupCounts(), kv => kv.Value > 0);
    }
}
