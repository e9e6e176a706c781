using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FuseActors.Engine.Device;

namespace FuseActors.Integration.Tests.Support;

/// <summary>
/// One node of a cluster filesystem as its own process: <c>fuseactors mount cluster</c> (the CLI built next to these
/// tests) on a fresh temporary mountpoint. Its stdout and stderr are kept in <see cref="Log"/> (for failure messages).
/// <see cref="StartAsync"/> returns once the node printed its ready line ("mounted at"): it is Up and its mount serves.
/// Disposing always ends the process and lazily unmounts the mountpoint, so no test leaves a process or a mount behind.
/// </summary>
public sealed class ClusterNodeProcess : IAsyncDisposable
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly string Cli = System.IO.Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _cleaned;

    private ClusterNodeProcess(string name, string host, int port, string path, string store, IReadOnlyList<string> seeds)
    {
        Name = name;
        Host = host;
        Port = port;
        Path = path;
        Store = store;
        Seeds = seeds;
        // `env --default-signal` undoes an inherited SIG_IGN for SIGINT/SIGTERM (see CliTests); env execs in place,
        // so the process id is the node's.
        var psi = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var a in new[] { "--default-signal=INT,TERM", "dotnet", Cli, "mount", "cluster", path, "--port", port.ToString(), "--host", host })
            psi.ArgumentList.Add(a);
        foreach (var s in seeds)
        {
            psi.ArgumentList.Add("--seed");
            psi.ArgumentList.Add(s);
        }
        psi.ArgumentList.Add("--store");
        psi.ArgumentList.Add(store);
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(LongCacheConfig.Value);
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Append("out", e.Data);
            if (e.Data.Contains("mounted at")) _ready.TrySetResult(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Append("err", e.Data); };
        _process.Exited += (_, _) => _ready.TrySetException(new InvalidOperationException($"node {Name} exited before it was ready"));
    }

    /// <summary>
    /// Every test node lets its kernel cache names and attributes for 60 s (the default is 1 s): a change made on
    /// another node can then only be seen within a test's bounded wait (10 s) because the namespace told this node
    /// and the node invalidated its kernel's caches, never because a cache simply expired.
    /// </summary>
    private static readonly Lazy<string> LongCacheConfig = new(() =>
    {
        var file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fuseactors-cluster-test-{Environment.ProcessId}.hocon");
        File.WriteAllText(file, "fuseactors.connection.entry-timeout = 60s\nfuseactors.connection.attr-timeout = 60s\n");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(file);
        return file;
    });

    /// <summary>A name for messages (A, B, C...).</summary>
    public string Name { get; }
    public string Host { get; }
    public int Port { get; }
    /// <summary>host:port, as <c>--seed</c> takes it.</summary>
    public string Address => $"{Host}:{Port}";
    /// <summary>The mountpoint.</summary>
    public string Path { get; }
    public string Store { get; }
    public IReadOnlyList<string> Seeds { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>A path inside the mount.</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Everything the node wrote so far, stdout and stderr interleaved, each line marked.</summary>
    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>The last <paramref name="lines"/> lines of <see cref="Log"/>.</summary>
    public string Tail(int lines)
    {
        var all = Log.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private void Append(string stream, string line)
    {
        lock (_log) _log.Append(Name).Append(' ').Append(stream).Append(": ").AppendLine(line);
    }

    /// <summary>Starts a node and waits (bounded) for its ready line; a node that does not get ready is killed and
    /// cleaned up, and the exception carries its log.</summary>
    public static async Task<ClusterNodeProcess> StartAsync(string name, string store, IEnumerable<string> seeds, string host = "127.0.0.1")
    {
        MountedFilesystem.RequireFuse();
        var path = Directory.CreateTempSubdirectory($"fuseactors-node{name}-").FullName;
        var node = new ClusterNodeProcess(name, host, FreePort(), path, store, seeds.ToList());
        try
        {
            node._process.Start();
            node._process.StandardInput.Close();
            node._process.BeginOutputReadLine();
            node._process.BeginErrorReadLine();
            await node._ready.Task.WaitAsync(ReadyTimeout);
            return node;
        }
        catch (Exception e)
        {
            var why = e is TimeoutException ? $"did not print its ready line within {ReadyTimeout.TotalSeconds} s" : e.Message;
            await node.DisposeAsync();
            throw new InvalidOperationException($"node {name} ({node.Address}, seeds [{string.Join(", ", node.Seeds)}]) {why}; its log:\n{node.Log}", e);
        }
    }

    /// <summary>SIGTERM (the node unmounts and leaves the cluster), up to 30 s for it to exit, then SIGKILL.
    /// Returns the exit code (137 after a SIGKILL). Always cleans up the mountpoint.</summary>
    public async Task<int> StopAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Tmds.Linux.LibC.kill(_process.Id, Tmds.Linux.LibC.SIGTERM);
                using var cts = new CancellationTokenSource(StopTimeout);
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    Append("test", $"did not exit within {StopTimeout.TotalSeconds} s of SIGTERM: SIGKILL");
                    Kill9();
                }
            }
            _process.WaitForExit(); // drain the output readers
            return _process.ExitCode;
        }
        finally
        {
            Cleanup();
        }
    }

    /// <summary>SIGKILL, and waits for the process to be gone. The mount stays (dead: ENOTCONN) until cleanup.</summary>
    public void Kill9()
    {
        if (!_process.HasExited) Tmds.Linux.LibC.kill(_process.Id, Tmds.Linux.LibC.SIGKILL);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            throw new InvalidOperationException($"node {Name} (pid {_process.Id}) still runs 30 s after SIGKILL");
        _process.WaitForExit();
    }

    /// <summary>Lazy unmount (umount -l) of the mountpoint, whatever state it is in, and removes the directory.</summary>
    public void Cleanup()
    {
        if (Interlocked.Exchange(ref _cleaned, 1) != 0) return;
        FuseMounter.Unmount(Path);
        try { Directory.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            try
            {
                if (!_process.HasExited) await StopAsync();
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }
        }
        finally
        {
            Cleanup();
            _process.Dispose();
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        try { return ((IPEndPoint)l.LocalEndpoint).Port; }
        finally { l.Stop(); }
    }

    public override string ToString() => $"node {Name} at {Address} (pid {(_process.HasExited ? "exited" : _process.Id)}, mount {Path})";
}
