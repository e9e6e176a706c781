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

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>One line of JSON (the control socket's answer to <c>stats</c>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static MountStats FromJson(string line) => JsonSerializer.Deserialize<MountStats>(line, Json)
        ?? throw new FormatException("empty stats line");
}

/// <summary>
/// Takes successive snapshots of one connection's <see cref="ConnectionMetrics"/> and turns the difference into a
/// <see cref="MountStats"/>. Runs off the hot path (on whoever asks); the connection is never stopped or asked.
/// </summary>
public sealed class MountStatsSampler
{
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
            opcodes.Add(new OpcodeStats(FuseMetrics.OpcodeNames[op], delta, delta / seconds,
                LatencyHistogram.Quantile(current, 0.5) * toMs, LatencyHistogram.Quantile(current, 0.9) * toMs, LatencyHistogram.Quantile(current, 0.99) * toMs));
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
            IntervalSeconds = seconds,
            Requests = total,
            OpsPerSecond = total / seconds,
            P50Ms = LatencyHistogram.Quantile(overall, 0.5) * toMs,
            P90Ms = LatencyHistogram.Quantile(overall, 0.9) * toMs,
            P99Ms = LatencyHistogram.Quantile(overall, 0.99) * toMs,
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
