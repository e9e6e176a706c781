using System.Numerics;

namespace FuseActors.Actors.Diagnostics;

/// <summary>
/// A fixed log-scale histogram of durations in clock ticks: four buckets per power of two (each ~19% wide), so a
/// percentile read from it is within ~10% of the true value. One writer (the connection actor) adds with a plain
/// increment and no allocation; readers copy the counts (<see cref="CopyTo"/>) and take the difference of two copies
/// to get the last interval's distribution.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Buckets 0-3 hold 0-3 ticks; bucket i ≥ 4 holds [(4 + i%4) &lt;&lt; (i/4 - 1), that + (1 &lt;&lt; (i/4 - 1))).
    /// 160 buckets reach 2^40 ticks (18 minutes of nanoseconds); longer goes to the last.</summary>
    public const int Buckets = 160;

    private readonly long[] _counts = new long[Buckets];

    public void Add(long ticks) => _counts[Bucket(ticks)]++;

    public static int Bucket(long ticks)
    {
        if (ticks < 4) return ticks < 0 ? 0 : (int)ticks;
        int msb = BitOperations.Log2((ulong)ticks);
        int i = (msb - 1) * 4 + (int)((ticks >> (msb - 2)) & 3);
        return i < Buckets ? i : Buckets - 1;
    }

    /// <summary>The lower bound of bucket <paramref name="i"/> in ticks.</summary>
    public static double LowerBound(int i) => i < 4 ? i : (double)((4L + (i & 3)) << (i / 4 - 1));

    /// <summary>The upper bound (exclusive) of bucket <paramref name="i"/> in ticks.</summary>
    public static double UpperBound(int i) => i < 4 ? i + 1 : LowerBound(i) + (1L << (i / 4 - 1));

    public void CopyTo(long[] into)
    {
        for (int i = 0; i < Buckets; i++) into[i] = Volatile.Read(ref _counts[i]);
    }

    /// <summary>The <paramref name="quantile"/> (0..1) of <paramref name="counts"/> in ticks (the middle of its bucket), or 0 when empty.</summary>
    public static double Quantile(ReadOnlySpan<long> counts, double quantile)
    {
        long total = 0;
        foreach (var c in counts) total += c;
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(quantile * total));
        long seen = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank) return (LowerBound(i) + UpperBound(i)) / 2;
        }
        return UpperBound(counts.Length - 1);
    }
}
