using System.Diagnostics;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// The CLI as a NuGet `dotnet tool`: packed from this build, installed from the local package (as a user would with
/// `dotnet tool install`), and mounting memfs with the installed command.
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

            var psi = new ProcessStartInfo(tool, ["mount", "memfs", mountpoint])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            daemon = Process.Start(psi)!;
            _ = daemon.StandardError.ReadToEndAsync();
            var ready = await daemon.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith($"fuseactors: memfs mounted at {mountpoint}", ready);

            var listing = await Shell.OkAsync($"echo installed > {mountpoint}/f && cat {mountpoint}/f && grep -c ' {mountpoint} fuse.fuseactors ' /proc/mounts");
            Assert.Equal("installed\n1\n", listing);

            await Shell.OkAsync($"kill -TERM {daemon.Id}");
            await daemon.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, daemon.ExitCode);
            Assert.DoesNotContain($" {mountpoint} ", File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            if (daemon is not null)
            {
                if (!daemon.HasExited) await Shell.RunAsync($"kill -TERM {daemon.Id}");
                await daemon.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            await Shell.RunAsync($"umount -l {mountpoint} 2>/dev/null; rm -rf {work}");
        }
    }

    /// <summary>The clone's root: the folder above the test binaries that holds FuseActors.sln.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FuseActors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no FuseActors.sln above {AppContext.BaseDirectory}");
    }
}
