using System.Globalization;
using FuseActors.Actors.Diagnostics;

namespace FuseActors.Cli;

/// <summary>
/// <c>fuseactors stats MOUNTPOINT</c> (one line per interval: ops/s, latency percentiles, in flight, credit) and
/// <c>fuseactors debug MOUNTPOINT on|off</c>, both through the running mount's control socket
/// (<see cref="MountControlClient"/>). <see cref="FormatLine"/> is also the line of an in-process <c>--stats</c>
/// (sample a <see cref="MountStatsSampler"/> over <c>FuseMount.GetMetricsAsync()</c>).
/// </summary>
internal static class StatsCommand
{
    /// <summary>Prints one line every <paramref name="interval"/>, <paramref name="count"/> times (null: until
    /// <paramref name="ct"/> is cancelled). 0 when done, 1 when the mount has no control socket or goes away.</summary>
    public static async Task<int> RunAsync(string mountpoint, TimeSpan interval, int? count, CancellationToken ct)
    {
        try
        {
            await using var client = await MountControlClient.ConnectAsync(mountpoint, ct).ConfigureAwait(false);
            await client.GetStatsAsync(ct).ConfigureAwait(false);   // the baseline: each line covers one interval
            for (int i = 0; count is null || i < count; i++)
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
                Console.Out.WriteLine(FormatLine(await client.GetStatsAsync(ct).ConfigureAwait(false)));
            }
            return 0;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            return 1;
        }
    }

    /// <summary>Turns the mount's debug log on or off; prints nothing on success.</summary>
    public static async Task<int> DebugAsync(string mountpoint, bool on)
    {
        try
        {
            await using var client = await MountControlClient.ConnectAsync(mountpoint).ConfigureAwait(false);
            await client.SetDebugAsync(on).ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            return 1;
        }
    }

    /// <summary><c>--stats</c>: while <paramref name="mount"/> serves, one <see cref="FormatLine"/> on stderr every
    /// <paramref name="interval"/> (stdout carries only the ready line).</summary>
    public static async Task ReportWhileMountedAsync(FuseActors.Actors.Mounting.FuseMount mount, TimeSpan interval, CancellationToken ct)
    {
        try
        {
            using var sampler = new MountStatsSampler(await mount.GetMetricsAsync().WaitAsync(ct).ConfigureAwait(false));
            sampler.Sample();
            while (!mount.Completion.IsCompleted)
            {
                await Task.WhenAny(Task.Delay(interval, ct), mount.Completion).ConfigureAwait(false);
                if (ct.IsCancellationRequested || mount.Completion.IsCompleted) return;
                Console.Error.WriteLine(FormatLine(sampler.Sample()));
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException)
        {
            // stderr went away (the terminal closed): the mount goes on serving without its live line.
        }
    }

    /// <summary>One line, e.g. <c>/mnt/x: 12034 ops/s p50 0.041 ms p90 0.090 ms p99 0.512 ms, in flight 2, credit 3/64,
    /// read 1.5 MiB/s, written 0 B/s, errors 0/s | GETATTR 8011, LOOKUP 2990, READ 1033</c>.</summary>
    public static string FormatLine(MountStats s)
    {
        var ic = CultureInfo.InvariantCulture;
        double secs = s.IntervalSeconds > 0 ? s.IntervalSeconds : 1;
        var line = new System.Text.StringBuilder();
        line.Append(ic, $"{s.Mount}: {s.OpsPerSecond:0} ops/s p50 {Ms(s.P50Ms)} p90 {Ms(s.P90Ms)} p99 {Ms(s.P99Ms)}, ");
        line.Append(ic, $"in flight {s.InFlight}, credit {s.CreditInUse}/{s.CreditLimit}, ");
        line.Append(ic, $"read {Bytes(s.BytesRead / secs)}/s, written {Bytes(s.BytesWritten / secs)}/s, errors {s.Errors / secs:0.#}/s");
        if (s.TimedOut > 0) line.Append(ic, $", timed out {s.TimedOut}");
        if (s.Background > 0) line.Append(ic, $", background {s.Background}");
        if (s.Debug) line.Append(", debug on");
        if (s.Opcodes.Count > 0)
        {
            line.Append(" |");
            for (int i = 0; i < s.Opcodes.Count && i < 5; i++)
                line.Append(ic, $"{(i == 0 ? " " : ", ")}{s.Opcodes[i].Opcode} {s.Opcodes[i].OpsPerSecond:0}/s p99 {Ms(s.Opcodes[i].P99Ms)}");
        }
        return line.ToString();
    }

    private static string Ms(double ms) => ms switch
    {
        >= 100 => ms.ToString("0", CultureInfo.InvariantCulture) + " ms",
        >= 1 => ms.ToString("0.0#", CultureInfo.InvariantCulture) + " ms",
        _ => ms.ToString("0.000", CultureInfo.InvariantCulture) + " ms",
    };

    private static string Bytes(double b) => b switch
    {
        >= 1 << 30 => (b / (1 << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1 << 20 => (b / (1 << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (b / (1 << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString("0", CultureInfo.InvariantCulture) + " B",
    };
}
