using System.Net.Sockets;
using System.Text;
using Akka.Event;

namespace FuseActors.Actors.Diagnostics;

/// <summary>
/// A mount's control endpoint: a Unix domain socket <c>ID.sock</c> (ID: the mount's fusectl connection id, which a
/// client finds from the mountpoint's st_dev) in the daemon user's directory (<see cref="DirectoryFor"/>), mode 0600
/// in a 0700 directory, removed at unmount. A line protocol, one answer line per command:
/// <list type="bullet">
/// <item><c>stats</c> → one line of JSON (<see cref="MountStats"/>), covering the time since this client's previous
/// <c>stats</c> (or since the mount started)</item>
/// <item><c>debug on</c> / <c>debug off</c> → <c>ok debug on|off</c>: the mount's debug log, as <c>FuseMount.SetDebug</c></item>
/// </list>
/// Anything else answers <c>error ...</c>. Reading the numbers never asks the connection actor.
/// </summary>
public sealed class MountControlServer : IAsyncDisposable
{
    /// <summary>Where root's daemons put their sockets.</summary>
    public const string Directory = "/run/fuseactors";

    /// <summary>The directory of the sockets of daemons running as <paramref name="uid"/>: <c>/run/fuseactors</c> for
    /// root; for another user <c>/run/user/UID/fuseactors</c> where the login manager made that user's runtime
    /// directory, else <c>/tmp/fuseactors-UID</c> (checked to be that user's own, mode 0700). A client finds the uid
    /// from the mount's <c>user_id=</c>, so it needs no environment to agree with the daemon.</summary>
    public static string DirectoryFor(uint uid) =>
        uid == 0 ? Directory
        : System.IO.Directory.Exists($"/run/user/{uid}") ? $"/run/user/{uid}/fuseactors"
        : $"/tmp/fuseactors-{uid}";

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

    /// <summary>The socket of connection <paramref name="connectionId"/> served by a daemon running as <paramref name="uid"/>
    /// (default: this process's user).</summary>
    public static string SocketPath(uint connectionId, uint? uid = null) =>
        System.IO.Path.Combine(DirectoryFor(uid ?? Tmds.Linux.LibC.geteuid()), connectionId + ".sock");

    /// <summary>Binds the socket for connection <paramref name="connectionId"/> and starts serving. A socket file left
    /// by a daemon that was killed (its id reused by this mount) is replaced.</summary>
    public static MountControlServer Start(uint connectionId, ConnectionMetrics metrics, Action<bool> setDebug, ILoggingAdapter? log = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the control socket is for Linux mounts");
        uint uid = Tmds.Linux.LibC.geteuid();
        var directory = DirectoryFor(uid);
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        System.IO.Directory.CreateDirectory(directory, OwnerOnly);
        // Under /tmp anyone could have made it first: it must be ours, a real directory, and nobody else's to enter.
        var info = new DirectoryInfo(directory);
        if (info.LinkTarget is not null || OwnerOf(directory) != uid)
            throw new IOException($"{directory} is not this user's own directory");
        if (info.UnixFileMode != OwnerOnly) File.SetUnixFileMode(directory, OwnerOnly);
        var path = SocketPath(connectionId, uid);
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

    private static unsafe uint OwnerOf(string path)
    {
        Tmds.Linux.stat st;
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
            if (Tmds.Linux.LibC.lstat(p, &st) != 0) throw new IOException($"cannot stat {path}");
        return st.st_uid;
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
                // A lasting cause (out of descriptors) must not become a loop of warnings: wait before trying again.
                _log?.Warning("control socket {Path}: accept failed: {Error}", Path, e.Message);
                try { await Task.Delay(1000, _stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        // A client that only switches debug never makes the connection measure latency: the sampler comes with the
        // first `stats`, and goes with the client.
        MountStatsSampler? sampler = null;
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                var command = line.Trim();
                var answer = Answer(command, ref sampler);
                if (command is "debug on" or "debug off") await SwitchedAsync(command == "debug on").ConfigureAwait(false);
                await writer.WriteLineAsync(answer).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, or the mount is ending.
        }
        finally
        {
            sampler?.Dispose();
        }
    }

    /// <summary>The debug switch is a message to the connection actor, which sets the metrics' flag as it switches: the
    /// answer waits for that (a request made after "ok" is then logged, or not, as asked), at most 2 s while the
    /// connection is busy; the switch still happens after that, when the connection gets to it.</summary>
    private async Task SwitchedAsync(bool on)
    {
        for (int waited = 0; _metrics.Debug != on && waited < 2000 && !_stop.IsCancellationRequested; waited++)
            await Task.Delay(1).ConfigureAwait(false);
    }

    private string Answer(string command, ref MountStatsSampler? sampler)
    {
        switch (command)
        {
            case "stats":
                return (sampler ??= new MountStatsSampler(_metrics)).Sample().ToJson();
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
    /// <summary>Stops accepting and removes the socket. Callers that come together (an unmount, and the connection's
    /// end) all wait for the one disposal, so none returns before the socket is gone.</summary>
    public ValueTask DisposeAsync()
    {
        var disposing = new Lazy<Task>(DisposeCoreAsync);
        return new ValueTask((Interlocked.CompareExchange(ref _disposing, disposing, null) ?? disposing).Value);
    }

    private Lazy<Task>? _disposing;

    private async Task DisposeCoreAsync()
    {
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
            ?? throw new InvalidOperationException($"{mountpoint} has no control socket: it is not on a FUSE mount");
        var path = MountControlServer.SocketPath(id, DaemonUser(mountpoint));
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

    /// <summary>The user the mount's daemon runs as: the <c>user_id=</c> of its line in /proc/self/mounts (the
    /// mounter, whether by mount(2) or fusermount3); this process's user when the line is not found.</summary>
    private static uint DaemonUser(string mountpoint)
    {
        var full = Path.GetFullPath(mountpoint).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length < 4 || !fields[2].StartsWith("fuse", StringComparison.Ordinal) || fields[1] != full) continue;
            foreach (var option in fields[3].Split(','))
                if (option.StartsWith("user_id=", StringComparison.Ordinal) && uint.TryParse(option.AsSpan(8), out var uid)) return uid;
        }
        return Tmds.Linux.LibC.geteuid();
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
