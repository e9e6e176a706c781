using System.CommandLine;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Filesystems.Passthrough;
using Serilog;
using Serilog.Events;

namespace FuseActors.Cli;

/// <summary>
/// <c>fuseactors mount memfs|passthrough|cluster ...</c>: mounts in the foreground, prints one line when ready, unmounts
/// on SIGINT / SIGTERM / SIGHUP (or when someone unmounts it) and exits 0. Exit 2 for bad usage, a bad mountpoint or a
/// bad configuration, 1 for a failure, a connection aborted through fusectl among them (as libfuse's daemons). The command line itself is <see cref="FuseActorsCommandLine"/>.
/// </summary>
internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        var commandLine = new FuseActorsCommandLine(RunAsync);
        AddOperatorCommands(commandLine);
        return FuseActorsCommandLine.InvokeAsync(commandLine.Parse(args, RawArguments.Read(args)));
    }

    /// <summary><c>--stats</c> on every mount: a live line on stderr every second (or every N seconds).</summary>
    /// <summary>SIGUSR1's number on Linux (x86-64 and arm64): PosixSignal names only the portable signals.</summary>
    private const int SigUsr1 = 10;

    internal static readonly Option<double?> StatsOption = new("--stats")
    {
        HelpName = "SECONDS",
        Description = "While mounted, print a line every SECONDS (default 1) on stderr: ops/s, latency p50/p90/p99, in flight, credit",
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = r => r.Tokens.Count == 0 ? 1.0
            : double.TryParse(r.Tokens[0].Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v is >= 0.1 and <= 3600 ? v
            : Invalid(r, $"--stats wants seconds between 0.1 and 3600, not '{r.Tokens[0].Value}'"),
    };

    private static double? Invalid(System.CommandLine.Parsing.ArgumentResult r, string message)
    {
        r.AddError(message);
        return null;
    }

    /// <summary>The operator's commands for a running mount, through its control socket: <c>stats MOUNTPOINT</c> and
    /// <c>debug MOUNTPOINT on|off</c> (go-fuse's SetDebug from outside the process).</summary>
    private static void AddOperatorCommands(FuseActorsCommandLine commandLine)
    {
        commandLine.AddMountOption(StatsOption);

        var statsMountpoint = new Argument<string>("MOUNTPOINT") { Description = "A mount served by fuseactors" };
        var interval = new Option<double>("--interval")
        {
            HelpName = "SECONDS", Description = "Seconds between lines (default 1)", DefaultValueFactory = _ => 1.0,
            Validators = { r => { if (r.GetValueOrDefault<double>() is < 0.1 or > 3600) r.AddError("--interval wants seconds between 0.1 and 3600"); } },
        };
        var count = new Option<int?>("--count")
        {
            HelpName = "N", Description = "Stop after N lines (default: until Ctrl-C)",
            Validators = { r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--count wants a positive number of lines"); } },
        };
        var stats = new Command("stats", "Live view of a running mount: a line per interval with ops/s, latency percentiles, in flight and credit")
        {
            statsMountpoint, interval, count,
        };
        stats.SetAction(async (result, ct) =>
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var signals = StopSignals.Register(stop);
            _ = stop.Task.ContinueWith(_ => cts.Cancel(), TaskScheduler.Default);
            return await StatsCommand.RunAsync(Path.GetFullPath(result.GetValue(statsMountpoint)!),
                TimeSpan.FromSeconds(result.GetValue(interval)), result.GetValue(count), cts.Token);
        });

        var debugMountpoint = new Argument<string>("MOUNTPOINT") { Description = "A mount served by fuseactors" };
        var state = new Argument<string>("on|off") { Description = "Log every request with its arguments (on) or not (off)" };
        state.Validators.Add(r =>
        {
            if (r.Tokens.Count == 1 && r.Tokens[0].Value is not ("on" or "off")) r.AddError($"debug wants on or off, not '{r.Tokens[0].Value}'");
        });
        var debug = new Command("debug", "Switch a running mount's request log on or off (as go-fuse's SetDebug)") { debugMountpoint, state };
        debug.SetAction((result, _) => StatsCommand.DebugAsync(Path.GetFullPath(result.GetValue(debugMountpoint)!), result.GetValue(state) == "on"));

        commandLine.Root.Add(stats);
        commandLine.Root.Add(debug);
    }

    /// <summary>Where the ready line goes: the process's stdout. Everything else written to Console.Out once a command
    /// runs (Akka's StandardOutLogger, which takes over from Serilog while the ActorSystem shuts down) goes to stderr,
    /// so stdout carries the ready line and nothing else.</summary>
    internal static TextWriter Stdout { get; private set; } = Console.Out;

    private static async Task<int> RunAsync(CliArguments cli, CancellationToken cancellationToken)
    {
        Stdout = Console.Out;
        Console.SetOut(Console.Error);
        // Serilog first: akka.hocon names Akka.Logger.Serilog's logger, which writes to Log.Logger from the moment the
        // ActorSystem starts.
        Log.Logger = CreateLogger(cli.Debug);
        try
        {
            return cli.Kind == "cluster-demo" ? await ClusterDemo.RunAsync(cli) : await MountAsync(cli);
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>Console logging on stderr (stdout carries only the ready line), through which Akka's own log goes too
    /// (Akka.Logger.Serilog): every property of a message template rendered, and the actor or class that logged.</summary>
    internal static Serilog.ILogger CreateLogger(bool debug) => new LoggerConfiguration()
        .MinimumLevel.Is(debug ? LogEventLevel.Debug : LogEventLevel.Information)
        .Enrich.WithProperty("LogSource", "fuseactors")
        .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
            outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} [{LogSource}] {Message:lj}{NewLine}{Exception}")
        .CreateLogger();

    private static async Task<int> MountAsync(CliArguments cli)
    {
        // -o before anything touches the mountpoint: a bad option is an error, never a mount with the default.
        if (MountOptionList.ToConfig(cli.Kind, cli.MountOptions, out var error) is not { } mountOptions)
        {
            Console.Error.WriteLine($"fuseactors: {error}");
            return 2;
        }

        Config config;
        ConnectionSettings settings;
        MemoryFsOptions memoryFs;
        int passthroughIoThreads;
        KernelCacheMode passthroughKeepCache;
        MountOptions options;
        TimeSpan grace;
        try
        {
            config = mountOptions.WithFallback(LoadConfig(cli));
            if (cli.Debug) config = ConfigurationFactory.ParseString("akka.loglevel = DEBUG").WithFallback(config);
            settings = ConnectionSettings.FromConfig(config);
            memoryFs = MemoryFsOptions.FromConfig(config);
            passthroughIoThreads = config.GetInt("fuseactors.passthrough-fs.io-threads", PassthroughOptions.Default.IoThreads);
            passthroughKeepCache = ParseKernelCacheMode(config.GetString("fuseactors.passthrough-fs.keep-kernel-cache", "auto"));
            if (passthroughIoThreads is < 0 or > 1024)
                throw new FormatException($"fuseactors.passthrough-fs.io-threads: {passthroughIoThreads} is not 0 to 1024");
            // Read here, so a bad value is exit 2 with its reason rather than a crash (the cluster reads its own).
            options = MountOptionsConfig.FromConfig(config, cli.Source ?? cli.Kind);
            grace = MountOptionsConfig.UnmountGrace(config);
        }
        catch (ConfigFileException e)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ConfigurationException or FormatException)
        {
            Console.Error.WriteLine($"fuseactors: bad configuration: {e.Message}");
            return 2;
        }

        var mountpoint = Path.GetFullPath(cli.Mountpoint);
        var problem = (cli.Mountpoint.Contains('\uFFFD') ? $"mountpoint {cli.Mountpoint} is not valid UTF-8 (not supported; a SOURCE may be)" : null)
            ?? CheckMountpoint(mountpoint, cli.UnmountDead) ?? CheckSource(cli);
        if (problem is not null)
        {
            Console.Error.WriteLine($"fuseactors: {problem}");
            return 2;
        }
        if (!File.Exists("/dev/fuse"))
        {
            Console.Error.WriteLine("fuseactors: /dev/fuse does not exist: load the fuse module (modprobe fuse) or run where FUSE is available");
            return 1;
        }
        // No root check here: without CAP_SYS_ADMIN the mount goes through fusermount3; when neither works the mount
        // says why (a FuseDeviceException below).

        if (cli.Debug) settings = settings with { Debug = true };
        if (cli.Kind == "passthrough" && config.GetBoolean("fuseactors.passthrough-fs.kernel-passthrough", true))
            settings = settings with { Passthrough = true };

        if (cli.Kind == "cluster") return await ClusterCommand.RunAsync(cli, config, mountpoint);

        using var system = ActorSystem.Create("fuseactors", config);

        var passthroughOptions = new PassthroughOptions { KernelPassthrough = settings.Passthrough, IoThreads = passthroughIoThreads, KeepKernelCache = passthroughKeepCache };
        Props filesystem = cli.Kind switch
        {
            "memfs" => MemoryFs.Props(memoryFs),
            _ when cli.SourceBytes is { } bytes => PassthroughFs.Props(bytes, passthroughOptions),
            _ => PassthroughFs.Props(cli.Source!, passthroughOptions),
        };
        // MemoryFs answers READs of its large files from their memfds: sized so that /dev/fuse can splice them.
        if (cli.Kind == "memfs") options = options with { ReadsFitSplice = true };

        // Registered before mounting, so a signal while the mount starts stops it cleanly too.
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var signals = StopSignals.Register(stop);

        FuseMount mount;
        try
        {
            mount = await FuseMount.MountAsync(system, filesystem, mountpoint, options, settings, "mount");
        }
        catch (FuseDeviceException e)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            await system.Terminate();
            return 1;
        }

        // SIGUSR1 switches the request log, as `fuseactors debug MOUNTPOINT on|off` does from another shell.
        var metrics = await mount.GetMetricsAsync();
        using var usr1 = PosixSignalRegistration.Create((PosixSignal)SigUsr1, c =>
        {
            c.Cancel = true;
            bool on = !metrics.Debug;
            mount.SetDebug(on);
            Log.Information("debug log {State} (SIGUSR1)", on ? "on" : "off");
        });

        int exitCode = 0;
        // From here on the mount is ours to take away, whatever happens (a stdout or stderr that went away with the
        // terminal, say): an exit that skipped it would leave a dead mount.
        try
        {
            var ready = await mount.Ready;
            Stdout.WriteLine($"fuseactors: {cli.Kind} mounted at {mountpoint} (FUSE 7.{ready.KernelMinor}, max_write {ready.MaxWrite}, transport {ready.Transport})");

            using var statsStop = new CancellationTokenSource();
            var statsLines = cli.Parsed?.GetValue(StatsOption) is { } every
                ? StatsCommand.ReportWhileMountedAsync(mount, TimeSpan.FromSeconds(every), statsStop.Token)
                : Task.CompletedTask;

            var first = await Task.WhenAny(stop.Task, mount.Completion);
            statsStop.Cancel();
            await statsLines;
            if (first == stop.Task) Log.Information("unmounting {Mountpoint}", mountpoint);
            else if (mount.EndedBecause is { IsFailure: true } end)
            {
                // Aborted through fusectl, a lost queue, a dead filesystem: not the clean end an unmount is.
                Log.Error("the connection of {Mountpoint} ended by itself: {Reason}", mountpoint, end.Reason);
                exitCode = 1;
            }
            else Log.Information("{Mountpoint} was unmounted", mountpoint);
        }
        catch (Exception e)
        {
            Log.Error(e, "fuseactors failed while serving {Mountpoint}; unmounting", mountpoint);
            await mount.UnmountAsync(grace);
            await system.Terminate();
            return 1;
        }
        await mount.UnmountAsync(grace);
        await system.Terminate();
        Log.Information("stopped");
        return exitCode;
    }

    private static string? CheckMountpoint(string path, bool unmountDead)
    {
        // A mount whose daemon died answers ENOTCONN to everything, which looks like "does not exist" to a stat.
        if (FuseMounter.IsDeadFuseMount(path))
        {
            if (!unmountDead)
                return $"mountpoint {path} is a dead FUSE mount (its daemon is gone): run `umount {path}` (`umount -l {path}` if it is busy), or mount with --unmount-dead";
            if (DeadMount.LazyUnmount(path) is { } failed) return failed;
            Log.Information("lazily unmounted the dead FUSE mount at {Mountpoint}", path);
        }
        if (File.Exists(path)) return $"mountpoint {path} is not a directory";
        if (!Directory.Exists(path)) return $"mountpoint {path} does not exist";
        try
        {
            if (FuseMounter.IsMountPoint(path)) return $"mountpoint {path} is already a mount";
        }
        catch (IOException) { }
        return null;
    }

    private static unsafe string? CheckSource(CliArguments cli)
    {
        if (cli.Source is not { } src) return null;
        if (cli.SourceBytes is not { } bytes) return Directory.Exists(src) ? null : $"source {src} is not a directory";
        // Not UTF-8: only the bytes name it (src shows U+FFFD for the bad ones).
        var z = new byte[bytes.Length + 1];
        bytes.CopyTo(z, 0);
        Tmds.Linux.stat st;
        fixed (byte* p = z)
            if (Tmds.Linux.LibC.stat(p, &st) == 0 && (st.st_mode & Tmds.Linux.LibC.S_IFMT) == Tmds.Linux.LibC.S_IFDIR) return null;
        return $"source {src} is not a directory";
    }

    /// <summary>fuseactors.passthrough-fs.keep-kernel-cache: off, auto or on (HOCON's other spellings of a boolean too).</summary>
    internal static KernelCacheMode ParseKernelCacheMode(string value) => value.Trim().ToLowerInvariant() switch
    {
        "off" or "false" or "no" => KernelCacheMode.Off,
        "auto" => KernelCacheMode.Auto,
        "on" or "true" or "yes" => KernelCacheMode.On,
        _ => throw new FormatException($"fuseactors.passthrough-fs.keep-kernel-cache: \"{value}\" is not off, auto or on"),
    };

    internal static Config LoadConfig(CliArguments cli)
    {
        var defaults = FindDefaultConfig();
        Config config = defaults is null ? Config.Empty : ConfigFile.Load(defaults);
        if (cli.ConfigFile is not null) config = ConfigFile.Load(cli.ConfigFile).WithFallback(config);
        return config;
    }

    private static string? FindDefaultConfig()
    {
        foreach (var dir in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            var p = Path.Combine(dir, "akka.hocon");
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
