using System.Diagnostics;
using System.Text;
using FuseActors.Hosting.Tests.Support;

namespace FuseActors.Hosting.Tests;

/// <summary>samples/HostedMemFs, the README's IHost application, run as its own process: it mounts through
/// WithFuseMount, says so once its health check is Healthy, serves ls and cat, logs Akka's lines through Serilog
/// (Akka.Logger.Serilog), and on SIGTERM or SIGHUP unmounts and exits 0 at once.</summary>
public sealed class SampleAppTests
{
    [Theory]
    [InlineData("TERM")]
    [InlineData("HUP")]
    public async Task The_hosted_sample_mounts_serves_logs_through_Serilog_and_stops_cleanly_on_a_signal(string signal)
    {
        using var mp = new TempMountpoint();
        // A runner started under nohup (or with SIGHUP otherwise ignored) passes that on through exec, and a program
        // that starts with SIGHUP ignored rightly keeps ignoring it: start the sample with the signals at their defaults.
        var psi = new ProcessStartInfo("env", ["--default-signal=INT,TERM,HUP", "dotnet", Path.Combine(AppContext.BaseDirectory, "hosted-memfs.dll"), mp.Path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var app = Process.Start(psi)!;
        var stderr = new StringBuilder();
        app.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        app.BeginErrorReadLine();
        try
        {
            var ready = await app.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal($"hosted-memfs: mounted at {mp.Path} (Healthy)", ready);
            Assert.True(TempMountpoint.IsMounted(mp.Path));

            await File.WriteAllTextAsync(Path.Combine(mp.Path, "hello.txt"), "from the sample\n");
            var (lsCode, ls) = await Shell.RunAsync("ls", mp.Path);
            Assert.Equal((0, "hello.txt\n"), (lsCode, ls));
            var (catCode, cat) = await Shell.RunAsync("cat", Path.Combine(mp.Path, "hello.txt"));
            Assert.Equal((0, "from the sample\n"), (catCode, cat));

            var stopping = Stopwatch.StartNew();
            Assert.Equal(0, (await Shell.RunAsync("kill", $"-{signal}", app.Id.ToString())).Code);
            try { await app.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)); }
            catch (TimeoutException)
            {
                // Say what the sample was doing: its log, and whether its mount is still there.
                string sofar;
                lock (stderr) sofar = stderr.ToString();
                Assert.Fail($"the sample did not exit within 30 s of SIG{signal} (mounted: {TempMountpoint.IsMounted(mp.Path)}); its log:\n{sofar}");
            }
            stopping.Stop();
            Assert.Equal(0, app.ExitCode);
            Assert.False(TempMountpoint.IsMounted(mp.Path), "the sample left its mount behind");
            // Akka's own lines came through Serilog's template ([LogSource] is the Akka.Logger.Serilog property).
            string log;
            lock (stderr) log = stderr.ToString();
            Assert.Matches(@"\d\d:\d\d:\d\d\.\d{3} INF \[akka://hosted-memfs/user/[^\]]+\] FUSE connection ready", log);
            // Whole lines on failure (xUnit's DoesNotContain shows a cut of the log): which message went to dead letters
            // says which shutdown race it was.
            var unwanted = log.Split('\n').Where(l => l.Contains(" WRN ") || l.Contains("dead letter", StringComparison.OrdinalIgnoreCase)).ToArray();
            Assert.True(unwanted.Length == 0, $"warnings or dead letters after SIG{signal}:\n{string.Join('\n', unwanted)}");
            // Timing is not asserted (tests are not benchmarks); it is printed for whoever reads the test log.
            Console.WriteLine($"hosted sample stopped {stopping.ElapsedMilliseconds} ms after SIG{signal}");
        }
        finally
        {
            if (!app.HasExited) app.Kill(entireProcessTree: true);
        }
    }
}
