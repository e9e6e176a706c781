using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace FuseActors.Tests.Shared;

/// <summary>
/// A throw-away PostgreSQL server for tests: Debian's postgresql package (installed on first use), a fresh cluster
/// (initdb, trust auth) in a temporary directory, listening on a free port of 127.0.0.1 with fsync on, one database.
/// As root the server runs as the package's <c>postgres</c> user (PostgreSQL refuses to run as root).
/// Every step is bounded by a timeout; <see cref="DisposeAsync"/> stops the server and deletes the directory.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string DatabaseName = "fuseactors";
    public const string UserName = "postgres";
    private const string AptLock = "/tmp/fuseactors-apt.lock";

    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly string _bin;
    private readonly string _root;
    private readonly Process _process;
    private readonly StringBuilder _log;
    private int _disposed;

    private PostgresServer(string bin, string root, int port, Process process, StringBuilder log)
    {
        _bin = bin;
        _root = root;
        Port = port;
        _process = process;
        _log = log;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username={UserName};Database={DatabaseName}";
    }

    /// <summary>The temporary directory: the cluster in <c>data/</c>, the Unix socket beside it.</summary>
    public string Directory => _root;

    public string DataDirectory => Path.Combine(_root, "data");

    public int Port { get; }

    /// <summary>Npgsql connection string of the test database (trust auth, no password).</summary>
    public string ConnectionString { get; }

    /// <summary>The CLI's <c>--store</c> value for this server.</summary>
    public string StoreArgument => "postgresql:" + ConnectionString;

    /// <summary>The server's process id (the postmaster).</summary>
    public int ProcessId => _process.Id;

    /// <summary>What the server wrote to stdout/stderr so far (for failure messages).</summary>
    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public static async Task<PostgresServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var bin = await EnsureInstalledAsync(cancellationToken);
        var asRoot = Environment.IsPrivilegedProcess;
        var root = System.IO.Directory.CreateTempSubdirectory("fuseactors-pg-").FullName;
        try
        {
            var data = Path.Combine(root, "data");
            if (asRoot)
                await RunAsync("chown", ["-R", $"{UserName}:{UserName}", root], CommandTimeout, cancellationToken);
            await RunAsync(Path.Combine(bin, "initdb"),
                ["-D", data, "-U", UserName, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                CommandTimeout, cancellationToken, asRoot);

            Exception? last = null;
            for (var attempt = 0; attempt < 3; attempt++)
            {
                var port = FreePort();
                var log = new StringBuilder();
                var process = StartProcess(Path.Combine(bin, "postgres"),
                    ["-D", data, "-k", root, "-p", port.ToString(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on",
                     "-c", "shared_buffers=32MB", "-c", "max_connections=100"],
                    asRoot, log);
                var server = new PostgresServer(bin, root, port, process, log);
                try
                {
                    await server.WaitReadyAsync(cancellationToken);
                    await server.CreateDatabaseAsync(cancellationToken);
                    return server;
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    last = e;
                    await server.StopServerAsync();
                    // A port taken between FreePort and the bind: try another one; anything else fails below.
                    if (!server.Log.Contains("could not bind", StringComparison.OrdinalIgnoreCase)) break;
                }
                catch
                {
                    await server.StopServerAsync();
                    throw;
                }
            }
            throw new InvalidOperationException("PostgreSQL test server did not start: " + last?.Message, last);
        }
        catch
        {
            TryDelete(root);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        NpgsqlConnection.ClearAllPools();
        await StopServerAsync();
        TryDelete(_root);
    }

    /// <summary>pg_ctl stop -m fast (bounded), then a kill of the postmaster if it is still there.</summary>
    private async Task StopServerAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                try
                {
                    await RunAsync(Path.Combine(_bin, "pg_ctl"),
                        ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", ((int)StopTimeout.TotalSeconds).ToString()],
                        StopTimeout + TimeSpan.FromSeconds(5), CancellationToken.None, Environment.IsPrivilegedProcess);
                }
                catch (Exception)
                {
                    // Fall through to the kill below.
                }
                using var wait = new CancellationTokenSource(StopTimeout);
                try
                {
                    await _process.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                }
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    using var killWait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    try { await _process.WaitForExitAsync(killWait.Token); } catch (OperationCanceledException) { }
                }
            }
        }
        catch (InvalidOperationException)
        {
            // The process was never started or is already gone.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        var admin = AdminConnectionString();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
                throw new InvalidOperationException($"postgres exited with code {_process.ExitCode}:\n{Log}");
            try
            {
                await using var c = new NpgsqlConnection(admin);
                await c.OpenAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
            {
                if (deadline.Elapsed > StartTimeout)
                    throw new TimeoutException($"postgres did not accept connections within {StartTimeout.TotalSeconds} s:\n{Log}", e);
            }
            await Task.Delay(200, cancellationToken);
        }
    }

    private async Task CreateDatabaseAsync(CancellationToken cancellationToken)
    {
        await using var c = new NpgsqlConnection(AdminConnectionString());
        await c.OpenAsync(cancellationToken);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"CREATE DATABASE {DatabaseName}";
        cmd.CommandTimeout = (int)CommandTimeout.TotalSeconds;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private string AdminConnectionString() =>
        $"Host=127.0.0.1;Port={Port};Username={UserName};Database=postgres;Pooling=false;Timeout=5;Command Timeout=60";

    /// <summary>The newest /usr/lib/postgresql/N/bin with a postgres binary; apt-get installs the package when there is none.</summary>
    private static async Task<string> EnsureInstalledAsync(CancellationToken cancellationToken)
    {
        var bin = FindBin();
        if (bin != null) return bin;
        // One install at a time across test processes: flock serialises them, and the later ones find it installed.
        var script = "if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then " +
                     "apt-get install -y -qq postgresql || { apt-get update -qq && apt-get install -y -qq postgresql; }; fi";
        await RunAsync("flock", ["-w", ((int)InstallTimeout.TotalSeconds).ToString(), AptLock, "sh", "-c", script],
            InstallTimeout + TimeSpan.FromMinutes(1), cancellationToken,
            environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" });
        return FindBin() ?? throw new InvalidOperationException("postgresql was installed but no /usr/lib/postgresql/*/bin/postgres was found");
    }

    private static string? FindBin()
    {
        const string lib = "/usr/lib/postgresql";
        if (!System.IO.Directory.Exists(lib)) return null;
        return System.IO.Directory.GetDirectories(lib)
            .Select(d => (dir: Path.Combine(d, "bin"), version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
            .Where(x => File.Exists(Path.Combine(x.dir, "postgres")) && File.Exists(Path.Combine(x.dir, "initdb")))
            .OrderByDescending(x => x.version)
            .Select(x => x.dir)
            .FirstOrDefault();
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        try { return ((IPEndPoint)l.LocalEndpoint).Port; }
        finally { l.Stop(); }
    }

    /// <summary>As root: run as the postgres user. setpriv execs the program in place (no intermediate process), so
    /// the Process is the program itself and a kill reaches it.</summary>
    private static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, bool asPostgres)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (asPostgres)
        {
            psi.FileName = "setpriv";
            foreach (var a in new[] { $"--reuid={UserName}", $"--regid={UserName}", "--init-groups", "--", file })
                psi.ArgumentList.Add(a);
        }
        else
        {
            psi.FileName = file;
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment.Remove("PGDATA");
        if (asPostgres) psi.Environment["HOME"] = "/tmp";
        return psi;
    }

    private static Process StartProcess(string file, IEnumerable<string> args, bool asPostgres, StringBuilder log)
    {
        var process = new Process { StartInfo = StartInfo(file, args, asPostgres) };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.AppendLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs a command to completion within <paramref name="timeout"/> (killed otherwise); throws on a non-zero exit.</summary>
    private static async Task<string> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        CancellationToken cancellationToken, bool asPostgres = false, IDictionary<string, string>? environment = null)
    {
        var argList = args.ToList();
        var log = new StringBuilder();
        var psi = StartInfo(file, argList, asPostgres);
        if (environment != null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.AppendLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{file} {string.Join(' ', argList)} did not finish within {timeout.TotalSeconds} s:\n{log}");
        }
        process.WaitForExit(); // drain the output readers
        string output;
        lock (log) output = log.ToString();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', argList)} exited with {process.ExitCode}:\n{output}");
        return output;
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
