using System.Text.Json;
using System.Text.Json.Serialization;

namespace FuseActors.Actors.Diagnostics;

/// <summary>One opcode's share of an interval: requests, requests per second and latency percentiles in milliseconds.</summary>
public sealed record OpcodeStats(string Opcode, long Requests, double OpsPerSecond, double P50Ms, double P90Ms, double P99Ms);

/// <summary>
/// A mount's live view over one interval (since the previous snapshot, or since the mount started): what
/// <c>fuseactors stats MOUNTPOINT</c> prints. Rates and percentiles cover the interval; in flight and credit are now.
/// </summary>
public sealed record MountStats
{
    public string Mount { get; init; } = "";
    public double IntervalSeconds { get; init; }
    public long Requests { get; init; }
    public double OpsPerSecond { get; init; }
    public double P50Ms { get; init; }
    public double P90Ms { get; init; }
    public double P99Ms { get; init; }
    public long Errors { get; init; }
    public long BytesRead { get; init; }
    public long BytesWritten { get; init; }
    public long Interrupts { get; init; }
    public long TimedOut { get; init; }
    /// <summary>Requests the filesystem is working on now.</summary>
    public int InFlight { get; init; }
    /// <summary>Read credits in use now: requests read and not yet answered, those still queued for the filesystem included (the queue depth).</summary>
    public int CreditInUse { get; init; }
    public int CreditLimit { get; init; }
    public int Background { get; init; }
    public bool Debug { get; init; }
    /// <summary>Opcodes seen in the interval, busiest first.</summary>
    public IReadOnlyList<OpcodeStats> Opcodes { get; init; } = [];

    /// <summary>One line of JSON (the control socket's answer to <c>stats</c>), snake_case names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, MountStatsJson.Default.MountStats);

    public static MountStats FromJson(string line) => JsonSerializer.Deserialize(line, MountStatsJson.Default.MountStats)
        ?? throw new FormatException("empty stats line");
}

/// <summary>Source-generated JSON for <see cref="MountStats"/>: works in trimmed and AOT programs too.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(MountStats))]
internal sealed partial class MountStatsJson : JsonSerializerContext;

/// <summary>
/// Takes successive snapshots of one connection's <see cref="ConnectionMetrics"/> and turns the difference into a
/// <see cref="MountStats"/>. Runs off the hot path (on whoever asks); the connection is never stopped or asked.
/// While a sampler lives the connection measures every request's latency; dispose it to stop that.
/// </summary>
public sealed class MountStatsSampler : IDisposable
{
    private int _disposed;
    private readonly ConnectionMetrics _m;
    private readonly long[] _requests = new long[FuseMetrics.OpcodeSlots];
    private readonly long[][] _latency = new long[FuseMetrics.OpcodeSlots][];
    private readonly long[] _errors = new long[FuseMetrics.ErrnoSlots];
    private long _bytesRead, _bytesWritten, _interrupts, _timedOut;
    private long _at;

    /// <summary>Starts counting from the mount's start (the first <see cref="Sample"/> covers everything so far; its
    /// latencies only what was measured: the connection measures latency once a sampler or a listener wants it).</summary>
    public MountStatsSampler(ConnectionMetrics metrics)
    {
        _m = metrics;
        metrics.TrackLatency();
        for (int i = 0; i < _latency.Length; i++) _latency[i] = new long[LatencyHistogram.Buckets];
        _at = metrics.StartedAt;
    }

    /// <summary>The connection stops measuring latency for this sampler (it goes on for others and for listeners).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _m.UntrackLatency();
    }

    public MountStats Sample()
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        double seconds = Math.Max(1e-9, System.Diagnostics.Stopwatch.GetElapsedTime(_at, now).TotalSeconds);
        _at = now;
        var overall = new long[LatencyHistogram.Buckets];
        var current = new long[LatencyHistogram.Buckets];
        var opcodes = new List<OpcodeStats>();
        long total = 0;
        double toMs = 1000.0 / _m.TimestampFrequency;
        // Milliseconds to the microsecond: the buckets are ~19% wide anyway.
        double Ms(double ticks) => Math.Round(ticks * toMs, 3);
        for (int op = 0; op < FuseMetrics.OpcodeSlots; op++)
        {
            long n = Volatile.Read(ref _m.Requests[op]);
            long delta = n - _requests[op];
            _requests[op] = n;
            _m.Latency[op].CopyTo(current);
            var previous = _latency[op];
            bool any = false;
            for (int b = 0; b < current.Length; b++)
            {
                long d = current[b] - previous[b];
                previous[b] = current[b];
                current[b] = d;
                overall[b] += d;
                any |= d != 0;
            }
            if (delta == 0 && !any) continue;
            total += delta;
            opcodes.Add(new OpcodeStats(FuseMetrics.OpcodeNames[op], delta, Math.Round(delta / seconds, 1),
                Ms(LatencyHistogram.Quantile(current, 0.5)), Ms(LatencyHistogram.Quantile(current, 0.9)), Ms(LatencyHistogram.Quantile(current, 0.99))));
        }
        opcodes.Sort((a, b) => b.Requests.CompareTo(a.Requests));
        long errors = 0;
        for (int e = 1; e < _errors.Length; e++)
        {
            long n = Volatile.Read(ref _m.Errors[e]);
            errors += n - _errors[e];
            _errors[e] = n;
        }
        return new MountStats
        {
            Mount = _m.Mount,
            IntervalSeconds = Math.Round(seconds, 3),
            Requests = total,
            OpsPerSecond = Math.Round(total / seconds, 1),
            P50Ms = Ms(LatencyHistogram.Quantile(overall, 0.5)),
            P90Ms = Ms(LatencyHistogram.Quantile(overall, 0.9)),
            P99Ms = Ms(LatencyHistogram.Quantile(overall, 0.99)),
            Errors = errors,
            BytesRead = Delta(ref _bytesRead, Volatile.Read(ref _m.BytesRead)),
            BytesWritten = Delta(ref _bytesWritten, Volatile.Read(ref _m.BytesWritten)),
            Interrupts = Delta(ref _interrupts, Volatile.Read(ref _m.Interrupts)),
            TimedOut = Delta(ref _timedOut, Volatile.Read(ref _m.TimedOut) + Volatile.Read(ref _m.InterruptGraceExpired)),
            InFlight = _m.InFlight,
            CreditInUse = _m.CreditInUse,
            CreditLimit = _m.CreditLimit,
            Background = _m.Background,
            Debug = _m.Debug,
            Opcodes = opcodes,
        };
    }

    private static long Delta(ref long last, long now)
    {
        long d = now - last;
        last = now;
        return d;
    }
}
