using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FuseActors.Cli;

/// <summary>
/// <c>fuseactors cluster demo DIR</c>: three cluster nodes on this machine, each its own process, mounted at DIR/a,
/// DIR/b and DIR/c on one SQLite store (DIR/store.db): a newcomer's first look. Ctrl-C (SIGINT, SIGTERM or SIGHUP) stops all three.
/// </summary>
internal static class ClusterDemo
{
    public static async Task<int> RunAsync(CliArguments cli)
    {
        var dir = Path.GetFullPath(cli.Mountpoint);
        Directory.CreateDirectory(dir);
        var store = cli.Store ?? "sqlite:" + Path.Combine(dir, "store.db");
        // The node processes run this same program: the apphost, or `dotnet fuseactors.dll` when started that way.
        var self = Environment.ProcessPath ?? "fuseactors";
        var prefix = Path.GetFileNameWithoutExtension(self) == "dotnet" ? new[] { typeof(ClusterDemo).Assembly.Location } : [];
        var names = new[] { "a", "b", "c" };
        var ports = names.Select(_ => FreePort()).ToArray();
        var nodes = new List<Process>();
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var signals = StopSignals.Register(stop);
        int exit = 0;
        try
        {
            for (int i = 0; i < names.Length; i++)
            {
                var mountpoint = Path.Combine(dir, names[i]);
                Directory.CreateDirectory(mountpoint);
                var args = new List<string> { "mount", "cluster", mountpoint, "--port", ports[i].ToString(), "--store", store };
                if (i > 0) args.AddRange(["--seed", $"127.0.0.1:{ports[0]}"]);
                if (cli.ConfigFile is not null) args.AddRange(["--config", cli.ConfigFile]);
                var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in prefix.Concat(args)) psi.ArgumentList.Add(a);
                var p = Process.Start(psi)!;
                nodes.Add(p);
                var name = names[i];
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                p.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is null) return;
                    Program.Stdout.WriteLine($"[{name}] {e.Data}");
                    if (e.Data.Contains("mounted at")) ready.TrySetResult();
                };
                p.ErrorDataReceived += (_, e) => { if (e.Data is not null && cli.Debug) Console.Error.WriteLine($"[{name}] {e.Data}"); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                var started = await Task.WhenAny(ready.Task, p.WaitForExitAsync(), stop.Task, Task.Delay(TimeSpan.FromSeconds(120)));
                if (started != ready.Task)
                {
                    Console.Error.WriteLine($"fuseactors: demo node {name} did not start" + (p.HasExited ? $" (exit {p.ExitCode})" : ""));
                    exit = 1;
                    return exit;
                }
            }
            Program.Stdout.WriteLine($"fuseactors: cluster demo: one filesystem mounted at {dir}/a, {dir}/b and {dir}/c (store {store}); Ctrl-C stops it");
            await Task.WhenAny(stop.Task, Task.WhenAny(nodes.Select(n => n.WaitForExitAsync())));
            return exit;
        }
        finally
        {
            // Stop the later nodes first, then the first one: each leaves the cluster gracefully.
            for (int i = nodes.Count - 1; i >= 0; i--)
            {
                var p = nodes[i];
                if (!p.HasExited) kill(p.Id, 15);
                if (!await WaitAsync(p, TimeSpan.FromSeconds(30)) && !p.HasExited) p.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task<bool> WaitAsync(Process p, TimeSpan timeout) =>
        await Task.WhenAny(p.WaitForExitAsync(), Task.Delay(timeout)) is var t && p.HasExited;

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
