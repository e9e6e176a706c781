using System.Diagnostics;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// The CLI as users get it: a NuGet `dotnet tool` packed from this build, installed from the local package (as a user
/// would with `dotnet tool install`), and a build published for this machine; each mounts memfs. One class: the two
/// run one after the other, as both restore and build in Cli/obj.
/// </summary>
public sealed class ToolPackageTests
{
    [Fact]
    public async Task The_cli_packs_as_a_dotnet_tool_that_installs_from_the_local_package_and_mounts()
    {
        var work = Directory.CreateTempSubdirectory("fuseactors-tool-").FullName;
        var mountpoint = Directory.CreateDirectory(Path.Combine(work, "mnt")).FullName;
        // A version of its own, and a NuGet cache of its own: the install must take this build's package, never one
        // cached by an earlier run.
        var version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var env = $"NUGET_PACKAGES={work}/nuget DOTNET_CLI_HOME={work}/home DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1";
        Process? daemon = null;
        try
        {
            await Shell.OkAsync(
                $"{env} dotnet pack {RepositoryRoot()}/Cli -c Release --no-build -nologo -v q -p:PackageVersion={version} -o {work}/packages",
                timeout: TimeSpan.FromMinutes(3));
            Assert.True(File.Exists($"{work}/packages/FuseActors.Cli.{version}.nupkg"));

            await Shell.OkAsync(
                $"{env} dotnet tool install FuseActors.Cli --version {version} --tool-path {work}/tools --add-source {work}/packages",
                timeout: TimeSpan.FromMinutes(3));
            var tool = $"{work}/tools/fuseactors";
            Assert.True(File.Exists(tool), "the tool's command is installed as `fuseactors`");

            daemon = StartMemfs(tool, mountpoint);
            await ServesAndStopsCleanlyAsync(daemon, mountpoint);
        }
        finally
        {
            await CleanUpAsync(daemon, mountpoint, work);
        }
    }

    /// <summary>
    /// `dotnet publish Cli -r RID` (README: a deployment that starts fast) precompiles the mount's path with ReadyToRun
    /// (ours, Akka's, the logging's) and leaves the cluster journal's SQL layer as IL: crossgen2 did not finish
    /// LanguageExt.Core in 25 CPU-minutes. The published command then mounts and serves memfs.
    /// </summary>
    [Fact]
    public async Task The_cli_published_for_this_machine_is_precompiled_on_the_mount_path_and_mounts()
    {
        var work = Directory.CreateTempSubdirectory("fuseactors-publish-").FullName;
        var mountpoint = Directory.CreateDirectory(Path.Combine(work, "mnt")).FullName;
        // The portable RID (a distribution's .NET may name its own, such as debian.12-x64, which NuGet has no packs for).
        var rid = $"linux-{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        Process? daemon = null;
        try
        {
            await Shell.OkAsync(
                $"DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet publish {RepositoryRoot()}/Cli -c Release -r {rid} --self-contained false -nologo -v q -o {work}/published",
                timeout: TimeSpan.FromMinutes(8));
            foreach (var precompiled in new[] { "fuseactors", "FuseActors.Engine", "FuseActors.Actors", "FuseActors.Filesystems", "Akka", "Serilog" })
                Assert.True(IsReadyToRun($"{work}/published/{precompiled}.dll"), $"{precompiled}.dll is precompiled");
            foreach (var left in new[] { "LanguageExt.Core", "linq2db", "Npgsql" })
                Assert.False(IsReadyToRun($"{work}/published/{left}.dll"), $"{left}.dll is left as IL");

            daemon = StartMemfs($"{work}/published/fuseactors", mountpoint);
            await ServesAndStopsCleanlyAsync(daemon, mountpoint);
        }
        finally
        {
            await CleanUpAsync(daemon, mountpoint, work);
        }
    }

    /// <summary>True when the assembly carries ReadyToRun native code (its CLI header names a managed native header).</summary>
    private static bool IsReadyToRun(string path)
    {
        using var pe = new System.Reflection.PortableExecutable.PEReader(File.OpenRead(path));
        return pe.PEHeaders.CorHeader is { } cor && cor.ManagedNativeHeaderDirectory.Size > 0;
    }

    /// <summary>Starts <paramref name="command"/> mount memfs <paramref name="mountpoint"/>.</summary>
    private static Process StartMemfs(string command, string mountpoint)
    {
        var psi = new ProcessStartInfo(command, ["mount", "memfs", mountpoint])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var daemon = Process.Start(psi)!;
        _ = daemon.StandardError.ReadToEndAsync();
        return daemon;
    }

    /// <summary>Waits for the daemon's ready line, writes and reads a file through the mount, and stops it with
    /// SIGTERM: exit code 0 and no mount left.</summary>
    private static async Task ServesAndStopsCleanlyAsync(Process daemon, string mountpoint)
    {
        var ready = await daemon.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.StartsWith($"fuseactors: memfs mounted at {mountpoint}", ready);

        var listing = await Shell.OkAsync($"echo installed > {mountpoint}/f && cat {mountpoint}/f && grep -c ' {mountpoint} fuse.fuseactors ' /proc/mounts");
        Assert.Equal("installed\n1\n", listing);

        await Shell.OkAsync($"kill -TERM {daemon.Id}");
        await daemon.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, daemon.ExitCode);
        Assert.DoesNotContain($" {mountpoint} ", File.ReadAllText("/proc/mounts"));
    }

    /// <summary>Stops a daemon still running, lazily unmounts and removes the test's folder.</summary>
    private static async Task CleanUpAsync(Process? daemon, string mountpoint, string work)
    {
        if (daemon is not null)
        {
            if (!daemon.HasExited) await Shell.RunAsync($"kill -TERM {daemon.Id}");
            await daemon.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        await Shell.RunAsync($"umount -l {mountpoint} 2>/dev/null; rm -rf {work}");
    }

    /// <summary>The clone's root: the folder above the test binaries that holds FuseActors.sln.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FuseActors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no FuseActors.sln above {AppContext.BaseDirectory}");
    }
}
