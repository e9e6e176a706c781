using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.TestKit;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Diagnostics;
using FuseActors.Actors.Filesystem;
using FuseActors.Actors.Tests.Support;
using FuseActors.Engine.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace FuseActors.Actors.Tests;

/// <summary>
/// The FuseActors meter read the way OpenTelemetry and dotnet-counters read it (a <see cref="MeterListener"/>), and the
/// debug log switched on and off while serving. The kernel is scripted byte by byte and the filesystem is a probe, so
/// the test decides which request succeeds, fails, is interrupted or never answered.
/// </summary>
public sealed class MetricsTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly FuseAttr RootAttr = new() { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };

    public MetricsTests() : base("akka.loglevel = INFO\nakka.stdout-loglevel = WARNING\nakka.log-dead-letters = 0") { }

    private sealed class ForwardingFilesystem : ReceiveActor
    {
        public ForwardingFilesystem(IActorRef probe) => ReceiveAny(m => probe.Forward(m));
    }

    private async Task<(ScriptedKernel Kernel, IActorRef Connection, TestProbe Fs)> ServingAsync(ConnectionSettings settings)
    {
        var kernel = new ScriptedKernel();
        var probe = CreateTestProbe();
        var filesystem = Sys.ActorOf(Props.Create(() => new ForwardingFilesystem(probe.Ref)));
        var ready = new TaskCompletionSource<ConnectionReady>(TaskCreationOptions.RunContinuationsAsynchronously);
        var connection = Sys.ActorOf(FuseConnection.Props([kernel], filesystem, settings, ready));
        kernel.Init();
        probe.ExpectMsg<FilesystemInitRequest>().Reply(FilesystemCapabilities.None);
        Assert.Equal(0, kernel.NextReply().Header.Error);
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return (kernel, connection, probe);
    }

    /// <summary>Every measurement of the FuseActors meter for one mount tag: the latest value per instrument and tag set
    /// for the observable ones, and every histogram recording.</summary>
    private sealed class Collected : IDisposable
    {
        private readonly string _mount;
        private readonly MeterListener _listener = new();
        public readonly ConcurrentDictionary<string, long> Latest = new();
        public readonly ConcurrentBag<(string Opcode, double Seconds)> Durations = new();

        public Collected(string mount)
        {
            _mount = mount;
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == FuseMetrics.MeterName) l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                if (Tag(tags, FuseMetrics.MountTag) != _mount) return;
                var key = instrument.Name;
                foreach (var t in tags)
                    if (t.Key != FuseMetrics.MountTag) key += $"|{t.Value}";
                Latest[key] = value;
            });
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            {
                if (Tag(tags, FuseMetrics.MountTag) == _mount && instrument.Name == "fuseactors.request.duration")
                    Durations.Add((Tag(tags, FuseMetrics.OpcodeTag)!, value));
            });
            _listener.Start();
        }

        private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
        {
            foreach (var t in tags)
                if (t.Key == key) return t.Value as string;
            return null;
        }

        public long Get(string key)
        {
            _listener.RecordObservableInstruments();
            return Latest.TryGetValue(key, out var v) ? v : 0;
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task The_meter_counts_requests_by_opcode_errors_by_errno_bytes_interrupts_and_engine_answered_timeouts()
    {
        var mount = "metrics-test-" + Guid.NewGuid().ToString("N");
        using var collected = new Collected(mount);   // listening before the first request: the histogram is enabled
        var clock = new FakeTimeProvider();
        var (kernel, connection, fs) = await ServingAsync(new ConnectionSettings
        {
            Time = clock, MountName = mount, RequestTimeout = TimeSpan.FromSeconds(30), InterruptGrace = TimeSpan.FromSeconds(2),
        });

        for (ulong u = 10; u < 13; u++)
        {
            kernel.GetAttr(u, 1);
            var r = fs.ExpectMsg<GetAttrRequest>();
            clock.Advance(TimeSpan.FromMilliseconds(3));   // a 3 ms answer, as the histogram sees it
            r.Reply(RootAttr);
            Assert.Equal(0, kernel.NextReply().Header.Error);
        }
        kernel.Lookup(13, 1, "missing");
        fs.ExpectMsg<LookupRequest>().Fail(Errno.ENOENT);
        Assert.Equal(-(int)Errno.ENOENT, kernel.NextReply().Header.Error);

        kernel.Send(ScriptedKernel.Request(Opcode.Read, 14, 2, new FuseReadIn { Fh = 1, Offset = 0, Size = 4096 }));
        fs.ExpectMsg<ReadRequest>().Reply(new byte[100]);
        Assert.Equal(100, kernel.NextReply().Payload.Length);

        var data = new byte[4096];
        var writeIn = new FuseWriteIn { Fh = 1, Offset = 0, Size = (uint)data.Length };
        var body = new byte[Marshal.SizeOf<FuseWriteIn>() + data.Length];
        MemoryMarshal.Write(body, in writeIn);
        kernel.Send(ScriptedKernel.Request(Opcode.Write, 15, 2, body));
        fs.ExpectMsg<WriteRequest>().Reply(4000);
        Assert.Equal(0, kernel.NextReply().Header.Error);

        // Interrupted and never answered: EINTR from the engine once the grace is over.
        kernel.GetAttr(16, 1);
        fs.ExpectMsg<GetAttrRequest>();
        kernel.Interrupt(17, target: 16);
        fs.ExpectMsg<RequestInterrupted>();
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(-(int)Errno.EINTR, kernel.NextReply().Header.Error);

        // Never answered: EIO from the engine after the request timeout.
        kernel.GetAttr(18, 1);
        fs.ExpectMsg<GetAttrRequest>();
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(-(int)Errno.EIO, kernel.NextReply().Header.Error);

        await AwaitAssertAsync(() => Assert.Equal(5, collected.Get("fuseactors.requests|GETATTR")));
        Assert.Equal(1, collected.Get("fuseactors.requests|INIT"));
        Assert.Equal(1, collected.Get("fuseactors.requests|LOOKUP"));
        Assert.Equal(1, collected.Get("fuseactors.requests|READ"));
        Assert.Equal(1, collected.Get("fuseactors.requests|WRITE"));
        Assert.Equal(1, collected.Get("fuseactors.requests|INTERRUPT"));
        Assert.Equal(1, collected.Get("fuseactors.errors|ENOENT"));
        Assert.Equal(1, collected.Get("fuseactors.errors|EINTR"));
        Assert.Equal(1, collected.Get("fuseactors.errors|EIO"));
        Assert.Equal(100, collected.Get("fuseactors.bytes.read"));
        Assert.Equal(4000, collected.Get("fuseactors.bytes.written"));
        Assert.Equal(1, collected.Get("fuseactors.interrupts"));
        Assert.Equal(1, collected.Get("fuseactors.requests.timed_out|request_timeout"));
        Assert.Equal(1, collected.Get("fuseactors.requests.timed_out|interrupt_grace"));
        Assert.Equal(2, collected.Get("fuseactors.requests.background"));   // the filesystem still holds both
        Assert.Equal(0, collected.Get("fuseactors.requests.in_flight"));
        Assert.Equal(0, collected.Get("fuseactors.credit.in_use"));

        // One duration per answered request, tagged by opcode; the three quick GETATTRs took 3 ms on the fake clock.
        Assert.Equal(5, collected.Durations.Count(d => d.Opcode == "GETATTR"));
        Assert.Equal(3, collected.Durations.Count(d => d.Opcode == "GETATTR" && Math.Abs(d.Seconds - 0.003) < 1e-9));

        // The live view reads the same numbers.
        var metrics = await connection.Ask<ConnectionMetrics>(GetConnectionMetrics.Instance);
        var stats = new MountStatsSampler(metrics).Sample();
        Assert.Equal(mount, stats.Mount);
        Assert.Equal(10, stats.Requests);
        Assert.Equal((3L, 100L, 4000L, 1L, 2L), (stats.Errors, stats.BytesRead, stats.BytesWritten, stats.Interrupts, stats.TimedOut));
        var getattr = Assert.Single(stats.Opcodes, o => o.Opcode == "GETATTR");
        Assert.Equal(5, getattr.Requests);
        Assert.InRange(getattr.P50Ms, 2.7, 3.3);   // the 3 ms answers, within a bucket's width
        Assert.Equal(stats.Requests, MountStats.FromJson(stats.ToJson()).Requests);
    }

    private sealed class HelloFs : FilesystemActor
    {
        protected override void Lookup(LookupRequest r)
        {
            if (r.Name == "hello") r.Reply(new Entry { NodeId = 2, Attr = new FuseAttr { Ino = 2, Mode = ModeBits.Regular | 0x1A4, Nlink = 1 } });
            else r.Fail(Errno.ENOENT);
        }

        protected override void GetAttr(GetAttrRequest r) => r.Reply(RootAttr);
    }

    [Fact]
    public async Task FuseMount_SetDebug_switches_the_request_log_of_a_filesystem_served_on_the_VirtualDevice()
    {
        await using var fs = await FuseActors.Actors.Mounting.InProcessFilesystem.StartAsync(Sys, Props.Create<HelloFs>());

        fs.Mount.SetDebug(true);
        await EventFilter.Info(contains: "name=hello").ExpectOneAsync(async () =>
        {
            await fs.Client.LookupAsync(FuseActors.Engine.Virtual.VfsClient.RootId, "hello");
        });
        var metrics = await fs.Mount.GetMetricsAsync();
        Assert.True(metrics.Debug);
        Assert.Equal(1, metrics.RequestCount(Opcode.Lookup));

        fs.Mount.SetDebug(false);
        await AwaitConditionAsync(() => Task.FromResult(!metrics.Debug));
        await EventFilter.Info(contains: "name=nothing-here").ExpectAsync(0, async () =>
        {
            await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Client.LookupAsync(FuseActors.Engine.Virtual.VfsClient.RootId, "nothing-here"));
            await Task.Delay(300);
        });
        Assert.Equal(1, metrics.ErrorCount(Errno.ENOENT));
    }

    [Fact]
    public async Task Debug_logging_shows_each_request_with_its_arguments_and_caller_and_is_switched_while_serving()
    {
        var (kernel, connection, fs) = await ServingAsync(new ConnectionSettings());

        kernel.Lookup(20, 1, "quiet-before");
        fs.ExpectMsg<LookupRequest>().Fail(Errno.ENOENT);
        kernel.NextReply();

        connection.Tell(new SetDebugLogging(true));
        await EventFilter.Info(contains: "Lookup unique=21 node=1 pid=1234 uid=0 gid=0 name=loud").ExpectOneAsync(async () =>
        {
            kernel.Lookup(21, 1, "loud");
            fs.ExpectMsg<LookupRequest>().Fail(Errno.ENOENT);
            kernel.NextReply();
            await Task.CompletedTask;
        });
        await EventFilter.Info(contains: "Read unique=22 node=2 pid=1234 uid=0 gid=0 fh=7 offset=8192 size=4096").ExpectOneAsync(async () =>
        {
            kernel.Send(ScriptedKernel.Request(Opcode.Read, 22, 2, new FuseReadIn { Fh = 7, Offset = 8192, Size = 4096 }));
            fs.ExpectMsg<ReadRequest>().Reply(new byte[10]);
            kernel.NextReply();
            await Task.CompletedTask;
        });

        connection.Tell(new SetDebugLogging(false));
        await EventFilter.Info(contains: "unique=23").ExpectAsync(0, async () =>
        {
            kernel.Lookup(23, 1, "quiet-after");
            fs.ExpectMsg<LookupRequest>().Fail(Errno.ENOENT);
            kernel.NextReply();
            await Task.Delay(300);
        });
    }
}

/// <summary>The live view's latency buckets: every duration lands in the bucket whose bounds hold it, buckets are
/// contiguous and at most ~19% wide, and percentiles come from the right bucket.</summary>
public sealed class LatencyHistogramTests
{
    [Fact]
    public void Every_duration_lands_in_the_bucket_that_holds_it_and_buckets_are_contiguous_and_narrow()
    {
        for (int i = 1; i < LatencyHistogram.Buckets; i++)
            Assert.Equal(LatencyHistogram.UpperBound(i - 1), LatencyHistogram.LowerBound(i));
        for (int i = 8; i < LatencyHistogram.Buckets; i++)
            Assert.True(LatencyHistogram.UpperBound(i) / LatencyHistogram.LowerBound(i) <= 1.25, $"bucket {i}");
        var random = new Random(7);
        for (int n = 0; n < 100_000; n++)
        {
            long ticks = n < 1000 ? n : (long)Math.Pow(2, random.NextDouble() * 39);
            int b = LatencyHistogram.Bucket(ticks);
            Assert.InRange(ticks, (long)LatencyHistogram.LowerBound(b), (long)LatencyHistogram.UpperBound(b) - 1);
        }
        Assert.Equal(LatencyHistogram.Buckets - 1, LatencyHistogram.Bucket(long.MaxValue));
        Assert.Equal(0, LatencyHistogram.Bucket(-5));
    }

    [Fact]
    public void Percentiles_come_from_the_bucket_of_that_rank()
    {
        var h = new LatencyHistogram();
        for (int i = 0; i < 90; i++) h.Add(1_000);        // 1 µs in ns ticks
        for (int i = 0; i < 10; i++) h.Add(1_000_000);    // 1 ms
        var counts = new long[LatencyHistogram.Buckets];
        h.CopyTo(counts);
        Assert.InRange(LatencyHistogram.Quantile(counts, 0.5), 900, 1_100);
        Assert.InRange(LatencyHistogram.Quantile(counts, 0.9), 900, 1_100);
        Assert.InRange(LatencyHistogram.Quantile(counts, 0.99), 900_000, 1_100_000);
        Assert.Equal(0, LatencyHistogram.Quantile(new long[LatencyHistogram.Buckets], 0.5));
    }
}
