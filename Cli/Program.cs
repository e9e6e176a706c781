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
/// <c>fuseactors mount memfs MOUNTPOINT</c>: mounts in the foreground, prints one line when ready, unmounts on
/// Ctrl-C / SIGTERM (or when someone unmounts it) and exits 0. Exit 2 for a bad mountpoint or usage, 1 for a failure.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var cli = CliArguments.Parse(args, out var error, RawArguments.Read(args));
        if (cli is null)
        {
            if (!string.IsNullOrEmpty(error)) Console.Error.WriteLine($"fuseactors: {error}");
            Console.Error.WriteLine(CliArguments.Usage);
            return 2;
        }

        if (cli.Kind == "cluster-demo") return await ClusterDemo.RunAsync(cli);

        // -o before anything touches the mountpoint: a bad option is an error, never a mount with the default.
        if (MountOptionList.ToConfig(cli.Kind, cli.MountOptions, out error) is not { } mountOptions)
        {
            Console.Error.WriteLine($"fuseactors: {error}");
            return 2;
        }

        var mountpoint = Path.GetFullPath(cli.Mountpoint);
        var problem = (cli.Mountpoint.Contains('\uFFFD') ? $"mountpoint {cli.Mountpoint} is not valid UTF-8 (not supported; a SOURCE may be)" : null)
            ?? CheckMountpoint(mountpoint) ?? CheckSource(cli);
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

        Config config;
        ConnectionSettings settings;
        MemoryFsOptions memoryFs;
        try
        {
            config = mountOptions.WithFallback(LoadConfig(cli));
            settings = ConnectionSettings.FromConfig(config);
            memoryFs = MemoryFsOptions.FromConfig(config);
            BusyUnmountParser.Parse(config.GetString("fuseactors.mount.busy-unmount", "detach"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ConfigurationException or FormatException)
        {
            Console.Error.WriteLine($"fuseactors: bad configuration: {e.Message}");
            return 2;
        }
        if (cli.Debug) settings = settings with { Debug = true };
        if (cli.Kind == "passthrough" && config.GetBoolean("fuseactors.passthrough-fs.kernel-passthrough", true))
            settings = settings with { Passthrough = true };

        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(cli.Debug ? LogEventLevel.Debug : LogEventLevel.Information)
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose, outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}")
            .CreateLogger();

        if (cli.Kind == "cluster")
        {
            int code = await ClusterCommand.RunAsync(cli, config, mountpoint);
            await Log.CloseAndFlushAsync();
            return code;
        }

        using var system = ActorSystem.Create("fuseactors", config);
        var options = MountOptionsConfig.FromConfig(config, cli.Source ?? cli.Kind);
        var grace = config.GetTimeSpan("fuseactors.mount.unmount-grace", TimeSpan.FromSeconds(5), allowInfinite: false);

        Props filesystem = cli.Kind switch
        {
            "memfs" => MemoryFs.Props(memoryFs),
            _ when cli.SourceBytes is { } bytes => PassthroughFs.Props(bytes, new PassthroughOptions { KernelPassthrough = settings.Passthrough }),
            _ => PassthroughFs.Props(cli.Source!, new PassthroughOptions { KernelPassthrough = settings.Passthrough }),
        };

        FuseMount mount;
        try
        {
            mount = await FuseMount.MountAsync(system, filesystem, mountpoint, options, settings, "mount");
        }
        catch (FuseDeviceException e)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            await system.Terminate();
            return e.Errno is Errno.EPERM or Errno.EACCES ? 1 : 1;
        }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });

        var ready = await mount.Ready;
        Console.WriteLine($"fuseactors: {cli.Kind} mounted at {mountpoint} (FUSE 7.{ready.KernelMinor}, max_write {ready.MaxWrite})");

        await Task.WhenAny(stop.Task, mount.Completion);
        if (!mount.Completion.IsCompleted) Log.Information("unmounting {Mountpoint}", mountpoint);
        await mount.UnmountAsync(grace);
        await system.Terminate();
        Log.Information("stopped");
        await Log.CloseAndFlushAsync();
        return 0;
    }

    private static string? CheckMountpoint(string path)
    {
        // A mount whose daemon died answers ENOTCONN to everything, which looks like "does not exist" to a stat.
        if (FuseMounter.IsDeadFuseMount(path))
            return $"mountpoint {path} is a dead FUSE mount (its daemon is gone): run `umount {path}` (`umount -l {path}` if it is busy)";
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

    private static Config LoadConfig(CliArguments cli)
    {
        var defaults = FindDefaultConfig();
        Config config = defaults is null ? Config.Empty : ConfigurationFactory.ParseString(File.ReadAllText(defaults));
        if (cli.ConfigFile is not null)
            config = ConfigurationFactory.ParseString(File.ReadAllText(cli.ConfigFile)).WithFallback(config);
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
