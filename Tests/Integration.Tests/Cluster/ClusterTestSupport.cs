using System.Diagnostics;
using FuseActors.Integration.Tests.Support;
using Xunit.Abstractions;

namespace FuseActors.Integration.Tests.Cluster;

/// <summary>What the cluster tests share: a test body that dumps the nodes' logs to the test output when it fails,
/// and bounded polling for changes made on another node (visibility is by kernel notifications: quick, but not at once).</summary>
public abstract class ClusterTestBase
{
    protected static readonly TimeSpan VisibleWithin = TimeSpan.FromSeconds(10);

    protected ClusterTestBase(ThreeNodeCluster cluster, ITestOutputHelper output)
    {
        Cluster = cluster;
        Output = output;
    }

    protected ThreeNodeCluster Cluster { get; }
    protected ITestOutputHelper Output { get; }
    private Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>A progress line in the test output, with the seconds since the test body started.</summary>
    protected void Step(string what) => Output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1} s] {what}");

    /// <summary>Runs a test body; on failure the nodes' logs go to the test output, then the failure is rethrown.</summary>
    protected async Task Logged(Func<Task> body)
    {
        var clock = _clock = Stopwatch.StartNew();
        try
        {
            await body();
        }
        catch (Exception e)
        {
            Output.WriteLine($"FAILED after {clock.Elapsed.TotalSeconds:F1} s: {e.Message}");
            Output.WriteLine(Cluster.Logs());
            throw;
        }
        Output.WriteLine($"passed in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>A fresh directory for one test, made on A (the other nodes see it by name).</summary>
    protected async Task<string> NewDirectoryAsync(string name)
    {
        var dir = $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];
        await Shell.OkAsync($"mkdir {Cluster.A[dir]}");
        return dir;
    }

    /// <summary>Runs <paramref name="script"/> until it exits 0 (its stdout is returned) or <paramref name="within"/>
    /// (10 s by default) passes: then fails with its last result.</summary>
    protected static async Task<string> EventuallyOkAsync(string script, string? workingDirectory = null, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = within ?? VisibleWithin;
        while (true)
        {
            var r = await Shell.RunAsync(script, workingDirectory, timeout: TimeSpan.FromSeconds(30));
            if (r.ExitCode == 0) return r.Stdout;
            if (deadline.Elapsed > limit) Assert.Fail($"'{script}' did not succeed within {limit.TotalSeconds} s; last: {r}");
            await Task.Delay(100);
        }
    }

    /// <summary>Runs <paramref name="script"/> until its stdout equals <paramref name="expected"/> (bounded).</summary>
    protected static async Task EventuallyOutputAsync(string expected, string script, string? workingDirectory = null, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = within ?? VisibleWithin;
        while (true)
        {
            var r = await Shell.RunAsync(script, workingDirectory, timeout: TimeSpan.FromSeconds(30));
            if (r.ExitCode == 0 && r.Stdout == expected) return;
            if (deadline.Elapsed > limit)
                Assert.Fail($"'{script}' did not print {Quote(expected)} within {limit.TotalSeconds} s; last: {r}");
            await Task.Delay(100);
        }
    }

    protected static string Quote(string s) => "\"" + s.Replace("\n", "\\n") + "\"";
}
