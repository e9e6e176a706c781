using Akka.Actor;
using Akka.Configuration;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;

namespace FuseActors.Integration.Tests.Support;

/// <summary>
/// A filesystem actor mounted for real at a fresh temporary mountpoint, with its own ActorSystem. Disposing always
/// detaches the mount (lazy unmount) and removes the directory, so a failed test never leaves a mount behind.
/// </summary>
public sealed class MountedFilesystem : IAsyncDisposable
{
    private MountedFilesystem(ActorSystem system, FuseMount mount, string path)
    {
        System = system;
        Mount = mount;
        Path = path;
    }

    public ActorSystem System { get; }
    public FuseMount Mount { get; }
    /// <summary>The mountpoint.</summary>
    public string Path { get; }

    public string this[string relative] => global::System.IO.Path.Combine(Path, relative);

    public static async Task<MountedFilesystem> StartAsync(Props filesystem, ConnectionSettings? settings = null, MountOptions? options = null)
    {
        RequireFuse();
        var path = Directory.CreateTempSubdirectory("fuseactors-mnt-").FullName;
        var system = ActorSystem.Create("test", ConfigurationFactory.ParseString("""
            akka.loglevel = INFO
            akka.stdout-loglevel = INFO
            akka.log-dead-letters = 0
            """));
        try
        {
            var mount = await FuseMount.MountAsync(system, filesystem, path, options ?? new MountOptions { Subtype = "fuseactors-test" },
                settings ?? new ConnectionSettings());
            return new MountedFilesystem(system, mount, path);
        }
        catch
        {
            FuseMounter.Unmount(path);
            await system.Terminate();
            TryDelete(path);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Mount.UnmountAsync(TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            // Belt and braces: whatever happened above, no mount stays behind.
            FuseMounter.Unmount(Path);
            await System.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
            TryDelete(Path);
        }
    }

    private static void TryDelete(string path)
    {
        try { Directory.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>These tests mount for real: they need root and /dev/fuse, and say so instead of passing vacuously.</summary>
    public static void RequireFuse()
    {
        if (!File.Exists("/dev/fuse")) throw new InvalidOperationException("real-mount tests need /dev/fuse");
        if (Tmds.Linux.LibC.geteuid() != 0) throw new InvalidOperationException("real-mount tests need root (mount(2))");
    }
}
