using System.Net.Sockets;
using System.Text;
using Akka.Event;

namespace FuseActors.Actors.Diagnostics;

/// <summary>
/// A mount's control endpoint: a Unix domain socket <c>/run/fuseactors/ID.sock</c> (ID: the mount's fusectl
/// connection id, which a client finds from the mountpoint's st_dev), mode 0600 in a 0700 directory, removed at
/// unmount. A line protocol, one answer line per command:
/// <list type="bullet">
/// <item><c>stats</c> → one line of JSON (<see cref="MountStats"/>), covering the time since this client's previous
/// <c>stats</c> (or since the mount started)</item>
/// <item><c>debug on</c> / <c>debug off</c> → <c>ok debug on|off</c>: the mount's debug log, as <c>FuseMount.SetDebug</c></item>
/// </list>
/// Anything else answers <c>error ...</c>. Reading the numbers never asks the connection actor.
/// </summary>
public sealed class MountControlServer : IAsyncDisposable
{
    /// <summary>Where the sockets live.</summary>
    public const string Directory = "/run/fuseactors";

    private readonly Socket _listener;
    private readonly ConnectionMetrics _metrics;
    private readonly Action<bool> _setDebug;
    private readonly ILoggingAdapter? _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private MountControlServer(string path, Socket listener, ConnectionMetrics metrics, Action<bool> setDebug, ILoggingAdapter? log)
    {
        Path = path;
        _listener = listener;
        _metrics = metrics;
        _setDebug = setDebug;
        _log = log;
        _accepting = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The socket's path.</summary>
    public string Path { get; }

    public static string SocketPath(uint connectionId) => System.IO.Path.Combine(Directory, connectionId + ".sock");

    /// <summary>Binds the socket for connection <paramref name="connectionId"/> and starts serving. A socket file left
    /// by a daemon that was killed (its id reused by this mount) is replaced.</summary>
    public static MountControlServer Start(uint connectionId, ConnectionMetrics metrics, Action<bool> setDebug, ILoggingAdapter? log = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the control socket is for Linux mounts");
        System.IO.Directory.CreateDirectory(Directory);
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = SocketPath(connectionId);
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(8);
        }
        catch
        {
            listener.Dispose();
            File.Delete(path);
            throw;
        }
        return new MountControlServer(path, listener, metrics, setDebug, log);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _log?.Warning("control socket {Path}: accept failed: {Error}", Path, e.Message);
                continue;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var sampler = new MountStatsSampler(_metrics);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
                await writer.WriteLineAsync(Answer(line.Trim(), sampler)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, or the mount is ending.
        }
    }

    private string Answer(string command, MountStatsSampler sampler)
    {
        switch (command)
        {
            case "stats":
                return sampler.Sample().ToJson();
            case "debug on":
            case "debug off":
                bool on = command == "debug on";
                _setDebug(on);
                return on ? "ok debug on" : "ok debug off";
            default:
                return "error unknown command (stats, debug on, debug off)";
        }
    }

    /// <summary>Stops serving and removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Dispose();
        try { File.Delete(Path); } catch (IOException) { }
        await _accepting.ConfigureAwait(false);
    }
}

/// <summary>
/// Talks to a running mount's control socket from another process (what <c>fuseactors stats</c> and
/// <c>fuseactors debug</c> use): finds the socket from the mountpoint's st_dev, then asks for stats or flips debug.
/// </summary>
public sealed class MountControlClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;

    private MountControlClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>Connects to the control socket of the fuseactors mount at (or containing) <paramref name="mountpoint"/>.
    /// Throws <see cref="InvalidOperationException"/> with a one-line reason when there is none.</summary>
    public static async Task<MountControlClient> ConnectAsync(string mountpoint, CancellationToken cancellationToken = default)
    {
        if (!System.IO.Directory.Exists(mountpoint)) throw new InvalidOperationException($"{mountpoint} is not a directory");
        var id = Engine.Device.FuseMounter.ConnectionId(mountpoint)
            ?? throw new InvalidOperationException($"cannot stat {mountpoint}");
        var path = MountControlServer.SocketPath(id);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{mountpoint} has no control socket ({path}): not a fuseactors mount, or fuseactors.connection.control-socket is off");
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new InvalidOperationException($"cannot connect to {path}: {e.Message} (is the mount's daemon still running?)");
        }
        return new MountControlClient(socket);
    }

    /// <summary>The mount's stats since this client's previous call (the first call: since the mount started).</summary>
    public async Task<MountStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var line = await AskAsync("stats", cancellationToken).ConfigureAwait(false);
        if (line.StartsWith("error", StringComparison.Ordinal)) throw new InvalidOperationException(line);
        return MountStats.FromJson(line);
    }

    /// <summary>Turns the mount's debug log on or off.</summary>
    public async Task SetDebugAsync(bool on, CancellationToken cancellationToken = default)
    {
        var line = await AskAsync(on ? "debug on" : "debug off", cancellationToken).ConfigureAwait(false);
        if (!line.StartsWith("ok", StringComparison.Ordinal)) throw new InvalidOperationException(line);
    }

    private async Task<string> AskAsync(string command, CancellationToken cancellationToken)
    {
        await _writer.WriteLineAsync(command.AsMemory(), cancellationToken).ConfigureAwait(false);
        return await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("the mount closed its control socket");
    }

    public ValueTask DisposeAsync()
    {
        _writer.Dispose();
        _reader.Dispose();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
