using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using FuseActors.Actors.Diagnostics;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// The FuseActors meter and the control socket on a real mount served by the <c>fuseactors</c> command:
/// <c>dotnet-counters collect</c> (installed from NuGet into the test output, once) reads the meter of the running
/// process, and another process's <see cref="MountControlClient"/> reads the live stats and switches debug logging.
/// </summary>
public sealed class MetricsTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");
    private const string CountersVersion = "10.0.750501";

    /// <summary>A <c>fuseactors mount memfs</c> process with its stderr collected.</summary>
    private sealed class CliMount : IAsyncDisposable
    {
        private readonly StringBuilder _stderr = new();
        public Process Process { get; }
        public string Dir { get; }

        private CliMount(Process p, string dir)
        {
            Process = p;
            Dir = dir;
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
            p.BeginErrorReadLine();
        }

        public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
        public string? ControlSocket { get; private set; }

        public static async Task<CliMount> StartAsync(string prefix, params string[] extraArgs)
        {
            MountedFilesystem.RequireFuse();
            var dir = Directory.CreateTempSubdirectory(prefix).FullName;
            var psi = new ProcessStartInfo("env", ["--default-signal=INT,TERM", "dotnet", Cli, "mount", "memfs", dir, .. extraArgs])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var p = Process.Start(psi)!;
            var mount = new CliMount(p, dir);
            try
            {
                var ready = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(ready?.StartsWith($"fuseactors: memfs mounted at {dir}") == true, $"{ready}\n{mount.Stderr}");
                mount.ControlSocket = MountControlServer.SocketPath(FuseActors.Engine.Device.FuseMounter.ConnectionId(dir)!.Value);
            }
            catch
            {
                await mount.DisposeAsync();
                throw;
            }
            return mount;
        }

        /// <summary>SIGTERM, exit 0, no mount left.</summary>
        public async Task StopAsync()
        {
            await Shell.OkAsync($"kill -TERM {Process.Id}");
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(Process.ExitCode == 0, Stderr);
            Assert.DoesNotContain(Dir, File.ReadAllText("/proc/mounts"));
        }

        public async ValueTask DisposeAsync()
        {
            if (!Process.HasExited) { Process.Kill(); await Process.WaitForExitAsync(); }
            Process.Dispose();
            FuseActors.Engine.Device.FuseMounter.Unmount(Dir);
            // A daemon killed here leaves its socket file (the next mount with its connection id would replace it).
            if (ControlSocket is { } socket) File.Delete(socket);
            try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>dotnet-counters from NuGet, installed once into the test output (a second run finds it there).</summary>
    private static async Task<string> DotnetCountersAsync()
    {
        var toolDir = Path.Combine(AppContext.BaseDirectory, "tools", "dotnet-counters-" + CountersVersion);
        var exe = Path.Combine(toolDir, "dotnet-counters");
        if (!File.Exists(exe))
            await Shell.OkAsync($"dotnet tool install dotnet-counters --tool-path {toolDir} --version {CountersVersion}", timeout: TimeSpan.FromMinutes(5));
        return exe;
    }

    [Fact]
    public async Task Dotnet_counters_reads_request_counts_latency_and_bytes_of_a_live_mount_from_the_FuseActors_meter()
    {
        var counters = await DotnetCountersAsync();
        await using var mount = await CliMount.StartAsync("fuseactors-counters-");
        var csv = mount.Dir + ".csv";
        try
        {
            // File work on the mount for as long as dotnet-counters collects (it reports rates per second).
            using var stopWork = new CancellationTokenSource();
            var work = Shell.RunAsync($$"""
                # Until told to stop (after dotnet-counters is done), however slowly dotnet-counters starts.
                i=0; while [ ! -e {{mount.Dir}}.stop ] && [ $i -lt 100000 ]; do
                  echo "line $i" > {{mount.Dir}}/f$((i % 20)); cat {{mount.Dir}}/f$((i % 20)) > /dev/null; ls {{mount.Dir}} > /dev/null
                  i=$((i+1)); sleep 0.01
                done
                """, timeout: TimeSpan.FromSeconds(180));
            // --maxHistograms: dotnet-counters tracks 10 histogram series by default, and the duration histogram has one
            // per opcode: which 10 it keeps depends on which came first.
            var collect = await Shell.RunAsync(
                $"{counters} collect -p {mount.Process.Id} --counters FuseActors --format csv -o {csv} --duration 00:00:00:05 --refresh-interval 1 --maxHistograms 200",
                timeout: TimeSpan.FromSeconds(120));
            File.WriteAllText(mount.Dir + ".stop", "");
            await work;
            Assert.True(File.Exists(csv), $"dotnet-counters wrote no file: {collect.Stdout}{collect.Stderr}");

            var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).Where(f => f.Length >= 5 && f[1] == "FuseActors").ToList();
            double Max(string counter, string tag) => rows
                .Where(f => f[2].StartsWith(counter + " ", StringComparison.Ordinal) && f[2].Contains(tag, StringComparison.Ordinal))
                .Select(f => double.Parse(f[4], CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max();
            var mountTag = $"mount={mount.Dir}";
            string all = string.Join("\n", rows.Select(f => f[2]).Distinct());
            Assert.True(Max("fuseactors.requests", "opcode=WRITE") > 0, all);
            Assert.True(Max("fuseactors.requests", "opcode=LOOKUP") > 0 || Max("fuseactors.requests", "opcode=GETATTR") > 0, all);
            Assert.True(Max("fuseactors.bytes.written", mountTag) > 0, all);
            Assert.True(Max("fuseactors.request.duration", "opcode=WRITE") > 0, all);
            Assert.True(Max("fuseactors.requests.in_flight", mountTag) >= 0, all);
            Assert.True(Max("fuseactors.credit.in_use", mountTag) >= 0, all);
            Assert.Contains(rows, f => f[2].Contains(mountTag, StringComparison.Ordinal));
            await mount.StopAsync();
        }
        finally
        {
            File.Delete(csv);
            File.Delete(mount.Dir + ".stop");
        }
    }

    [Fact]
    public async Task The_control_socket_gives_another_process_live_stats_and_switches_debug_logging_while_mounted()
    {
        await using var mount = await CliMount.StartAsync("fuseactors-control-");
        var id = FuseActors.Engine.Device.FuseMounter.ConnectionId(mount.Dir)!.Value;
        var socket = MountControlServer.SocketPath(id);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

        await using (var client = await MountControlClient.ConnectAsync(mount.Dir))
        {
            await client.GetStatsAsync();   // the baseline
            await Shell.OkAsync($"for i in $(seq 1 50); do echo $i > {mount.Dir}/s$i; cat {mount.Dir}/s$i > /dev/null; done");
            var stats = await client.GetStatsAsync();
            Assert.Equal(mount.Dir, stats.Mount);
            Assert.InRange(stats.Requests, 200, 10_000);
            Assert.True(stats.OpsPerSecond > 0);
            Assert.Contains(stats.Opcodes, o => o.Opcode == "CREATE" && o.Requests == 50);
            Assert.Contains(stats.Opcodes, o => o.Opcode == "WRITE" && o.Requests >= 50);
            Assert.True(stats.BytesWritten >= 50 * 2, $"{stats.BytesWritten}");
            Assert.True(stats.P50Ms > 0 && stats.P50Ms <= stats.P90Ms && stats.P90Ms <= stats.P99Ms, stats.ToJson());
            Assert.Equal(64, stats.CreditLimit);
            Assert.False(stats.Debug);
            var line = FuseActors.Cli.StatsCommand.FormatLine(stats);
            Assert.Matches(@"^\S+: \d+ ops/s p50 [\d.]+ ms p90 [\d.]+ ms p99 [\d.]+ ms, in flight \d+, credit \d+/64, ", line);
            Assert.Contains($"| {stats.Opcodes[0].Opcode} ", line);   // the busiest opcodes follow

            // Debug on: each request shows its arguments and caller; off again: no more lines.
            await client.SetDebugAsync(true);
            Assert.True((await client.GetStatsAsync()).Debug);
            await Shell.OkAsync($"echo hello > {mount.Dir}/debugged-name");
            await WaitUntilAsync(() => Regex.IsMatch(mount.Stderr, @"Write unique=\d+ node=\d+ pid=\d+ uid=0 gid=0 fh=\d+ offset=0 size=6 "), mount);
            Assert.Matches(@"Lookup unique=\d+ node=1 pid=\d+ uid=0 gid=0 name=debugged-name", mount.Stderr);
            Assert.Matches(@"Create unique=\d+ node=1 pid=\d+ uid=0 gid=0 name=debugged-name flags=O_WRONLY\|O_CREAT\|O_TRUNC\S* mode=0100[0-7]+ umask=0[0-7]*", mount.Stderr);

            await client.SetDebugAsync(false);
            Assert.False((await client.GetStatsAsync()).Debug);
            await Shell.OkAsync($"echo quiet > {mount.Dir}/quiet-name");
            await Task.Delay(500);
            Assert.DoesNotContain("quiet-name", mount.Stderr);
        }
        // The CLI's own commands through the same socket: fuseactors stats MOUNTPOINT (two lines), fuseactors debug MOUNTPOINT on;
        // a directory that is no fuseactors mount is a one-line error.
        Assert.Equal(0, await FuseActors.Cli.StatsCommand.RunAsync(mount.Dir, TimeSpan.FromMilliseconds(100), 2, CancellationToken.None));
        Assert.Equal(1, await FuseActors.Cli.StatsCommand.RunAsync(Path.GetTempPath(), TimeSpan.FromMilliseconds(100), 1, CancellationToken.None));
        Assert.Equal(0, await FuseActors.Cli.StatsCommand.DebugAsync(mount.Dir, true));
        await Shell.OkAsync($"ls {mount.Dir}/again-name 2>/dev/null || true");
        await WaitUntilAsync(() => mount.Stderr.Contains("name=again-name"), mount);

        // The socket's name comes from the FUSE connection id, which the kernel hands out again once this mount is gone:
        // a test mounting meanwhile may already have its own socket there. What must be gone is this one (its inode).
        var inode = (await Shell.OkAsync($"stat -c %i {socket}")).Trim();
        await mount.StopAsync();
        var after = await Shell.RunAsync($"stat -c %i {socket}");
        Assert.False(after.ExitCode == 0 && after.Stdout.Trim() == inode, "the control socket outlived the mount");
    }

    [Fact]
    public async Task The_commands_stats_and_debug_and_the_stats_option_work_from_the_command_line()
    {
        await using var mount = await CliMount.StartAsync("fuseactors-cli-stats-", "--stats", "0.2");
        await Shell.OkAsync($"for i in $(seq 1 20); do echo $i > {mount.Dir}/c$i; done");
        // --stats: the mounting process itself prints a line per interval on stderr (stdout keeps only the ready line),
        // with the five busiest opcodes. Not CREATE by name: when the twenty creates fall in one interval, their opcodes
        // (LOOKUP, CREATE, GETATTR, GETXATTR, WRITE, FLUSH, RELEASE) tie at twenty each, and CREATE was once left out.
        await WaitUntilAsync(() => Regex.IsMatch(mount.Stderr, @$"{Regex.Escape(mount.Dir)}: [1-9]\d* ops/s p50 .* \| [A-Z_]+ [1-9]\d*/s p99 "), mount);

        // `fuseactors stats MOUNTPOINT`, another process: two lines, one per interval, while something works on the mount.
        var work = Shell.RunAsync($"for i in $(seq 1 400); do stat {mount.Dir}/c$((i % 20 + 1)) > /dev/null; echo x > {mount.Dir}/w$i; done");
        var stats = await Shell.OkAsync($"dotnet {Cli} stats {mount.Dir} --interval 0.3 --count 2");
        await work;
        var lines = stats.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(@$"^{Regex.Escape(mount.Dir)}: \d+ ops/s p50 [\d.]+ ms p90 [\d.]+ ms p99 [\d.]+ ms, in flight \d+, credit \d+/64, ", l));

        // `fuseactors debug MOUNTPOINT on|off` switches the running daemon's request log.
        await Shell.OkAsync($"dotnet {Cli} debug {mount.Dir} on");
        await Shell.OkAsync($"cat {mount.Dir}/c1 > /dev/null; ls {mount.Dir}/switched-on 2>/dev/null || true");
        await WaitUntilAsync(() => mount.Stderr.Contains("name=switched-on"), mount);
        await Shell.OkAsync($"dotnet {Cli} debug {mount.Dir} off");
        await Shell.OkAsync($"ls {mount.Dir}/switched-off 2>/dev/null || true");
        await Task.Delay(300);
        Assert.DoesNotContain("name=switched-off", mount.Stderr);

        // SIGUSR1 switches it too (on, as it was off).
        await Shell.OkAsync($"kill -USR1 {mount.Process.Id}");
        await WaitUntilAsync(() => mount.Stderr.Contains("debug log on (SIGUSR1)"), mount);
        await Shell.OkAsync($"ls {mount.Dir}/switched-by-signal 2>/dev/null || true");
        await WaitUntilAsync(() => mount.Stderr.Contains("name=switched-by-signal"), mount);

        var bad = await Shell.RunAsync($"dotnet {Cli} debug {mount.Dir} maybe");
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("fuseactors: debug wants on or off, not 'maybe' (see `fuseactors debug --help`)", bad.Stderr.Trim());
        var notOurs = await Shell.RunAsync($"dotnet {Cli} stats {Path.GetTempPath()} --count 1");
        Assert.Equal(1, notOurs.ExitCode);
        Assert.Contains("no control socket", notOurs.Stderr);
        await mount.StopAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CliMount mount)
    {
        // Generous: a loaded 2-vCPU machine can take seconds to get a log line out; the loop ends as soon as it is there.
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), mount.Stderr);
    }
}
