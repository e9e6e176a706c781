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
/// bad configuration, 1 for a failure. The command line itself is <see cref="FuseActorsCommandLine"/>.
/// </summary>
internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        var commandLine = new FuseActorsCommandLine(RunAsync);
        return FuseActorsCommandLine.InvokeAsync(commandLine.Parse(args, RawArguments.Read(args)));
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
        try
        {
            config = mountOptions.WithFallback(LoadConfig(cli));
            if (cli.Debug) config = ConfigurationFactory.ParseString("akka.loglevel = DEBUG").WithFallback(config);
            settings = ConnectionSettings.FromConfig(config);
            memoryFs = MemoryFsOptions.FromConfig(config);
            BusyUnmountParser.Parse(config.GetString("fuseactors.mount.busy-unmount", "detach"));
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
        var options = MountOptionsConfig.FromConfig(config, cli.Source ?? cli.Kind);
        var grace = config.GetTimeSpan("fuseactors.mount.unmount-grace", TimeSpan.FromSeconds(5), allowInfinite: false);

        Props filesystem = cli.Kind switch
        {
            "memfs" => MemoryFs.Props(memoryFs),
            _ when cli.SourceBytes is { } bytes => PassthroughFs.Props(bytes, new PassthroughOptions { KernelPassthrough = settings.Passthrough }),
            _ => PassthroughFs.Props(cli.Source!, new PassthroughOptions { KernelPassthrough = settings.Passthrough }),
        };

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

        var ready = await mount.Ready;
        Stdout.WriteLine($"fuseactors: {cli.Kind} mounted at {mountpoint} (FUSE 7.{ready.KernelMinor}, max_write {ready.MaxWrite})");

        await Task.WhenAny(stop.Task, mount.Completion);
        if (!mount.Completion.IsCompleted) Log.Information("unmounting {Mountpoint}", mountpoint);
        await mount.UnmountAsync(grace);
        await system.Terminate();
        Log.Information("stopped");
        return 0;
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
