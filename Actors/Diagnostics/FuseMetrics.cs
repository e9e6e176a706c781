using System.Diagnostics.Metrics;
using System.Reflection;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Diagnostics;

/// <summary>
/// The engine's <see cref="System.Diagnostics.Metrics"/> instruments, on one <see cref="Meter"/> named
/// <c>FuseActors</c> (read them with <c>dotnet-counters monitor --counters FuseActors -p PID</c>, OpenTelemetry's
/// <c>AddMeter("FuseActors")</c> or a <see cref="MeterListener"/>). Every measurement carries the tag <c>mount</c>
/// (the mountpoint, or the connection's name when served without a mount), so two mounts in one process are told apart.
///
/// Counts and bytes are plain per-connection numbers (<see cref="ConnectionMetrics"/>) that the connection actor
/// bumps without locks or tags; the observable instruments read them only when a listener collects. The latency
/// histogram is recorded only while someone listens to it (<see cref="Instrument.Enabled"/>), with cached tags.
/// </summary>
public static class FuseMetrics
{
    public const string MeterName = "FuseActors";

    /// <summary>Tag keys.</summary>
    public const string MountTag = "mount", OpcodeTag = "opcode", ErrnoTag = "errno", ReasonTag = "reason";

    public static readonly Meter Meter = new(MeterName,
        typeof(FuseMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(FuseMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Opcodes are counted in arrays indexed by opcode; anything above goes to the last slot ("OTHER").</summary>
    internal const int OpcodeSlots = 64;
    /// <summary>Errno values are counted in arrays indexed by errno; anything above goes to the last slot.</summary>
    internal const int ErrnoSlots = 256;

    /// <summary>Opcode names as the kernel spells them (LOOKUP, GETATTR, ...), by opcode.</summary>
    internal static readonly string[] OpcodeNames = BuildOpcodeNames();
    internal static readonly KeyValuePair<string, object?>[] OpcodeTags = OpcodeNames.Select(n => new KeyValuePair<string, object?>(OpcodeTag, n)).ToArray();
    internal static readonly string[] ErrnoNames = BuildErrnoNames();

    /// <summary>Latency of every answered request, from reading it off the device to writing its reply (tags: mount, opcode).</summary>
    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram<double>("fuseactors.request.duration", "s",
        "Time from reading a request off the device to writing its reply",
        advice: new InstrumentAdvice<double>
        {
            HistogramBucketBoundaries = [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        });

    private static readonly List<ConnectionMetrics> Live = new();

    static FuseMetrics()
    {
        Meter.CreateObservableCounter("fuseactors.requests", () => Each(static (m, list) =>
        {
            for (int op = 0; op < OpcodeSlots; op++)
            {
                long n = Volatile.Read(ref m.Requests[op]);
                if (n != 0) list.Add(new Measurement<long>(n, m.MountTagPair, OpcodeTags[op]));
            }
        }), "{request}", "Requests read from the kernel and answered (or consumed: FORGET, INTERRUPT), by opcode");
        Meter.CreateObservableCounter("fuseactors.errors", () => Each(static (m, list) =>
        {
            for (int e = 1; e < ErrnoSlots; e++)
            {
                long n = Volatile.Read(ref m.Errors[e]);
                if (n != 0) list.Add(new Measurement<long>(n, m.MountTagPair, new KeyValuePair<string, object?>(ErrnoTag, ErrnoNames[e])));
            }
        }), "{request}", "Requests answered with an error, by errno name");
        Meter.CreateObservableUpDownCounter("fuseactors.requests.in_flight", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(m.InFlight, m.MountTagPair))), "{request}",
            "Requests the filesystem is working on: read, not yet answered");
        Meter.CreateObservableUpDownCounter("fuseactors.credit.in_use", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(m.CreditInUse, m.MountTagPair))), "{request}",
            "Read credits taken (max-in-flight minus what the readers may still read): requests read and not yet answered, queued ones included");
        Meter.CreateObservableUpDownCounter("fuseactors.requests.background", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(m.Background, m.MountTagPair))), "{request}",
            "Requests the engine answered (timeout, interrupt grace) that the filesystem has not let go of yet");
        Meter.CreateObservableCounter("fuseactors.bytes.read", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(Volatile.Read(ref m.BytesRead), m.MountTagPair))), "By", "Bytes answered to READ requests");
        Meter.CreateObservableCounter("fuseactors.bytes.written", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(Volatile.Read(ref m.BytesWritten), m.MountTagPair))), "By", "Bytes the filesystem took from WRITE requests");
        Meter.CreateObservableCounter("fuseactors.interrupts", () => Each(static (m, list) =>
            list.Add(new Measurement<long>(Volatile.Read(ref m.Interrupts), m.MountTagPair))), "{interrupt}", "FUSE_INTERRUPTs from the kernel (a caller's signal)");
        Meter.CreateObservableCounter("fuseactors.requests.timed_out", () => Each(static (m, list) =>
        {
            list.Add(new Measurement<long>(Volatile.Read(ref m.TimedOut), m.MountTagPair, new KeyValuePair<string, object?>(ReasonTag, "request_timeout")));
            list.Add(new Measurement<long>(Volatile.Read(ref m.InterruptGraceExpired), m.MountTagPair, new KeyValuePair<string, object?>(ReasonTag, "interrupt_grace")));
        }), "{request}", "Requests the engine answered itself because the filesystem did not: EIO after request-timeout, EINTR after interrupt-grace");
    }

    internal static void Register(ConnectionMetrics m)
    {
        lock (Live) Live.Add(m);
    }

    internal static void Unregister(ConnectionMetrics m)
    {
        lock (Live) Live.Remove(m);
    }

    /// <summary>The live connections' metrics (for tests and the control socket).</summary>
    public static IReadOnlyList<ConnectionMetrics> Connections
    {
        get { lock (Live) return Live.ToArray(); }
    }

    // Runs on the collecting thread only (allocation here is off the hot path).
    private static IEnumerable<Measurement<long>> Each(Action<ConnectionMetrics, List<Measurement<long>>> add)
    {
        var list = new List<Measurement<long>>();
        foreach (var m in Connections) add(m, list);
        return list;
    }

    private static string[] BuildOpcodeNames()
    {
        var names = new string[OpcodeSlots];
        for (int i = 0; i < names.Length; i++) names[i] = i == OpcodeSlots - 1 ? "OTHER" : "OPCODE_" + i;
        foreach (Opcode op in Enum.GetValues<Opcode>())
            if ((int)op < OpcodeSlots - 1) names[(int)op] = op.ToString().ToUpperInvariant();
        return names;
    }

    private static string[] BuildErrnoNames()
    {
        var names = new string[ErrnoSlots];
        for (int i = 0; i < names.Length; i++) names[i] = i == ErrnoSlots - 1 ? "OTHER" : "E" + i;
        foreach (Errno e in Enum.GetValues<Errno>())
            if ((int)e > 0 && (int)e < ErrnoSlots - 1) names[(int)e] = e.ToString();
        return names;
    }

    internal static int OpcodeSlot(uint opcode) => opcode < OpcodeSlots - 1 ? (int)opcode : OpcodeSlots - 1;
    internal static int ErrnoSlot(Errno e) => (uint)e < ErrnoSlots - 1 ? (int)e : ErrnoSlots - 1;
}

/// <summary>
/// One connection's numbers: written by its connection actor only (one writer, plain increments), read by metric
/// collections and the control socket from other threads (a 64-bit read is atomic; a snapshot may be a request apart).
/// </summary>
public sealed class ConnectionMetrics : Akka.Actor.INoSerializationVerificationNeeded
{
    internal readonly long[] Requests = new long[FuseMetrics.OpcodeSlots];
    internal readonly long[] Errors = new long[FuseMetrics.ErrnoSlots];
    internal readonly LatencyHistogram[] Latency = new LatencyHistogram[FuseMetrics.OpcodeSlots];
    internal long BytesRead, BytesWritten, Interrupts, TimedOut, InterruptGraceExpired;
    internal readonly KeyValuePair<string, object?> MountTagPair;
    private readonly Func<int> _inFlight, _background, _creditInUse;
    private volatile bool _debug;
    private int _latencyReaders;

    internal ConnectionMetrics(string mount, int creditLimit, long timestampFrequency, Func<int> inFlight, Func<int> background, Func<int> creditInUse)
    {
        Mount = mount;
        CreditLimit = creditLimit;
        TimestampFrequency = timestampFrequency;
        MountTagPair = new KeyValuePair<string, object?>(FuseMetrics.MountTag, mount);
        _inFlight = inFlight;
        _background = background;
        _creditInUse = creditInUse;
        for (int i = 0; i < Latency.Length; i++) Latency[i] = new LatencyHistogram();
    }

    /// <summary>When the connection started (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
    /// <summary>The mount tag: the mountpoint, or the connection's name.</summary>
    public string Mount { get; }
    public int CreditLimit { get; }
    /// <summary>Ticks per second of the connection's clock (its latencies are counted in these ticks).</summary>
    public long TimestampFrequency { get; }
    public int InFlight => _inFlight();
    public int Background => _background();
    public int CreditInUse => _creditInUse();
    /// <summary>Whether the connection logs each request (set by the connection, read by the control socket).</summary>
    public bool Debug { get => _debug; internal set => _debug = value; }

    /// <summary>True while a live view (<see cref="MountStatsSampler"/>) reads this connection: meanwhile every request's
    /// latency goes into the per-opcode histograms. Otherwise, while no listener takes the duration histogram either,
    /// the connection does not even read the clock for it.</summary>
    public bool WantsLatency => Volatile.Read(ref _latencyReaders) > 0 || FuseMetrics.RequestDuration.Enabled;

    internal void TrackLatency() => Interlocked.Increment(ref _latencyReaders);
    internal void UntrackLatency() => Interlocked.Decrement(ref _latencyReaders);

    public long RequestCount(Opcode opcode) => Volatile.Read(ref Requests[FuseMetrics.OpcodeSlot((uint)opcode)]);
    public long ErrorCount(Errno errno) => Volatile.Read(ref Errors[FuseMetrics.ErrnoSlot(errno)]);

    /// <summary>A request was answered. <paramref name="elapsed"/> in clock ticks, or negative when not measured
    /// (<see cref="WantsLatency"/> was false).</summary>
    internal void Answered(uint opcode, Errno error, long elapsed, KeyValuePair<string, object?> mountTag)
    {
        int slot = FuseMetrics.OpcodeSlot(opcode);
        Requests[slot]++;
        if (error != Errno.Ok) Errors[FuseMetrics.ErrnoSlot(error)]++;
        if (elapsed < 0) return;
        Latency[slot].Add(elapsed);
        var histogram = FuseMetrics.RequestDuration;
        if (histogram.Enabled)
            histogram.Record((double)elapsed / TimestampFrequency, FuseMetrics.OpcodeTags[slot], mountTag);
    }

    /// <summary>A request that needs no reply (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY) was consumed.</summary>
    internal void Consumed(uint opcode) => Requests[FuseMetrics.OpcodeSlot(opcode)]++;
}
