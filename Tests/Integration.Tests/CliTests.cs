using System.Diagnostics;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>The <c>fuseactors</c> command line: --help and --version, errors, the ready line, --debug and -d, a clean stop
/// on SIGTERM / Ctrl-C / SIGHUP, dead mounts, bad configuration files.</summary>
public sealed class CliTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");

    /// <summary>Starts <c>fuseactors ARGS</c> in the background with its stdout and stderr redirected. `env
    /// --default-signal` undoes an inherited SIG_IGN (a test run started in the background of a non-interactive shell
    /// ignores SIGINT, and the CLI, like libfuse, leaves an ignored signal ignored).</summary>
    private static Process StartCli(params string[] args) =>
        Process.Start(new ProcessStartInfo("env", ["--default-signal=INT,TERM,HUP", "dotnet", Cli, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;

    private static Task<Shell.Result> RunCli(string args) => Shell.RunAsync($"dotnet {Cli} {args}", timeout: TimeSpan.FromSeconds(60));

    [Fact]
    public async Task A_missing_mountpoint_is_a_one_line_error_with_exit_code_2()
    {
        var r = await RunCli("mount memfs /nonexistent/fuseactors-dir");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("fuseactors: mountpoint /nonexistent/fuseactors-dir does not exist", r.Stderr.Trim());
    }

    [Fact]
    public async Task A_mountpoint_that_is_a_file_is_a_one_line_error_with_exit_code_2()
    {
        var file = Path.GetTempFileName();
        try
        {
            var r = await RunCli($"mount memfs {file}");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"fuseactors: mountpoint {file} is not a directory", r.Stderr.Trim());
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task A_dead_FUSE_mount_at_the_mountpoint_is_named_as_such_with_what_to_do()
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-dead-").FullName;
        try
        {
            // A daemon killed with SIGKILL leaves its mount behind: every access then fails with ENOTCONN.
            await Shell.OkAsync($$"""
                dotnet {{Cli}} mount memfs {{dir}} > {{dir}}.out 2>&1 &
                pid=$!
                for i in $(seq 1 300); do grep -q "mounted at" {{dir}}.out && break; sleep 0.1; done
                grep -q "mounted at" {{dir}}.out
                kill -9 $pid; wait $pid 2>/dev/null || true
                """, timeout: TimeSpan.FromSeconds(60));
            var r = await RunCli($"mount memfs {dir}");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"fuseactors: mountpoint {dir} is a dead FUSE mount (its daemon is gone): run `umount {dir}` (`umount -l {dir}` if it is busy), or mount with --unmount-dead",
                r.Stderr.Trim());

            // --unmount-dead takes the dead mount away (lazily) and mounts: the new mount serves, and SIGTERM leaves nothing.
            var output = await WithMountAsync(dir, $"memfs {dir} --unmount-dead", $"echo alive > {dir}/f && cat {dir}/f && grep -c ' {dir} ' /proc/mounts");
            Assert.Equal("alive\n1\n", output);
            Assert.DoesNotContain($" {dir} ", File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            File.Delete(dir + ".out");
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_mountpoint_that_is_already_a_mount_is_a_one_line_error_with_exit_code_2()
    {
        var r = await RunCli("mount memfs /proc");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("fuseactors: mountpoint /proc is already a mount", r.Stderr.Trim());
    }

    [Theory]
    [InlineData("mount nosuchfs /tmp", "fuseactors: unknown filesystem 'nosuchfs' (memfs, passthrough, cluster) (see `fuseactors mount --help`)")]
    [InlineData("mount memfs /tmp --bogus", "fuseactors: unknown option --bogus (see `fuseactors mount memfs --help`)")]
    [InlineData("mount memfs", "fuseactors: fuseactors mount memfs needs MOUNTPOINT (see `fuseactors mount memfs --help`)")]
    [InlineData("", "fuseactors: fuseactors needs a command (mount, cluster, stats, debug) (see `fuseactors --help`)")]
    public async Task Bad_usage_is_one_line_on_stderr_with_exit_code_2(string args, string message)
    {
        var r = await RunCli(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(message, r.Stderr.Trim());
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [InlineData("--help", "fuseactors [command] [options]")]
    [InlineData("-h", "stats <MOUNTPOINT>")]
    [InlineData("mount memfs --help", "fuseactors mount memfs <MOUNTPOINT> [options]")]
    [InlineData("mount passthrough -h", "fuseactors mount passthrough <SOURCE> <MOUNTPOINT> [options]")]
    [InlineData("mount cluster --help", "--seed <HOST:PORT>")]
    [InlineData("cluster demo --help", "fuseactors cluster demo <DIR> [options]")]
    public async Task Help_is_on_stdout_with_exit_code_0(string args, string expected)
    {
        var r = await RunCli(args);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(expected, r.Stdout);
        Assert.Equal("", r.Stderr);
        if (args.StartsWith("mount memfs"))
            foreach (var option in new[] { "-o <OPTIONS>", "-f", "-d", "--debug", "--config <FILE>", "--unmount-dead", "auto_unmount", "entry_timeout=SECONDS" })
                Assert.Contains(option, r.Stdout);
    }

    [Fact]
    public async Task Version_prints_the_informational_version_with_exit_code_0()
    {
        var r = await RunCli("--version");
        Assert.Equal(0, r.ExitCode);
        var expected = typeof(FuseActors.Cli.CliArguments).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
        Assert.Equal(expected, r.Stdout.Trim());
    }

    [Fact]
    public async Task A_keep_kernel_cache_that_is_not_off_auto_or_on_is_refused_with_exit_code_2() =>
        await WithConfigFileAsync("fuseactors-badcache-", "fuseactors.passthrough-fs.keep-kernel-cache = sometimes\n", async (dir, config) =>
        {
            var r = await RunCli($"mount passthrough /tmp {dir} --config {config}");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal("fuseactors: bad configuration: fuseactors.passthrough-fs.keep-kernel-cache: \"sometimes\" is not off, auto or on", r.Stderr.Trim());
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        });

    [Theory]
    [InlineData("fuseactors.connection.max-in-flight = 0", "fuseactors.connection.max-in-flight: 0 is not a count from 1 to 65536")]
    [InlineData("fuseactors.mount.max-read = 8g", "fuseactors.mount.max-read must be between 0 and 4294967295 bytes, not 8589934592")]
    public async Task Mount_and_connection_settings_out_of_range_are_refused_with_exit_code_2(string setting, string why) =>
        // Before: max-in-flight 0 hung the start-up with the mount in place, and a bad mount option crashed with a trace.
        await WithConfigFileAsync("fuseactors-badrange-", setting + "\n", async (dir, config) =>
        {
            var r = await RunCli($"mount memfs {dir} --config {config}");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"fuseactors: bad configuration: {why}", r.Stderr.Trim());
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        });

    [Fact]
    public async Task A_configuration_file_that_does_not_parse_is_refused_with_its_line_and_exit_code_2() =>
        await WithConfigFileAsync("fuseactors-badconf-", "# tunables\nfuseactors {\n  mount {\n    subtype = broken\n  \n", async (dir, config) =>
        {
            var r = await RunCli($"mount memfs {dir} --config {config}");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"fuseactors: configuration file {config} does not parse: line 3: '{{' is never closed", r.Stderr.Trim());

            r = await RunCli($"mount memfs {dir} --config {dir}.missing");
            Assert.Equal(2, r.ExitCode);
            Assert.Equal($"fuseactors: configuration file {dir}.missing does not exist", r.Stderr.Trim());
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        });

    /// <summary>Runs <paramref name="body"/> with a fresh empty directory (a mountpoint) and a configuration file beside
    /// it holding <paramref name="contents"/>; both are removed after.</summary>
    private static async Task WithConfigFileAsync(string prefix, string contents, Func<string, string, Task> body)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        var config = dir + ".conf";
        File.WriteAllText(config, contents);
        try
        {
            await body(dir, config);
        }
        finally
        {
            File.Delete(config);
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData("TERM", "--debug")]
    [InlineData("INT", "--debug")]
    [InlineData("HUP", "-d")]
    public async Task Mount_prints_one_ready_line_serves_files_and_unmounts_cleanly_on_a_signal(string signal, string debug)
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-cli-").FullName;
        using var p = StartCli("mount", "memfs", dir, debug, "-f");
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            var ready = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith($"fuseactors: memfs mounted at {dir}", ready);
            await Shell.OkAsync($"echo hello > {dir}/f && cat {dir}/f && ls -la {dir}");
            Assert.Contains(dir, File.ReadAllText("/proc/mounts"));

            await Shell.OkAsync($"kill -{signal} {p.Id}");
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, p.ExitCode);
            Assert.Equal("", (await p.StandardOutput.ReadToEndAsync()).Trim());
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
            // --debug (and -d) logged each request with opcode, unique, node, errno and microseconds.
            Assert.Matches(@"Create unique=\d+ node=1 -> ok len=144 in \d+ µs", await stderr);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    /// <summary>Runs the CLI in the background with <paramref name="mountArgs"/> (shell words, so printf-built bytes
    /// pass as they are), waits for the ready line, runs <paramref name="script"/>, then stops it with SIGTERM and
    /// checks it exits 0. Returns the script's output.</summary>
    private static async Task<string> WithMountAsync(string dir, string mountArgs, string script)
    {
        try
        {
            return await Shell.OkAsync($$"""
                dotnet {{Cli}} mount {{mountArgs}} > {{dir}}.out 2>&1 &
                pid=$!
                for i in $(seq 1 300); do grep -q "mounted at" {{dir}}.out && break; sleep 0.1; done
                grep -q "mounted at" {{dir}}.out || { cat {{dir}}.out >&2; exit 1; }
                ( {{script}} ) 2>&1; status=$?
                kill -TERM $pid; wait $pid || { echo "fuseactors exited $?" >&2; exit 1; }
                exit $status
                """, timeout: TimeSpan.FromSeconds(90));
        }
        finally
        {
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            File.Delete(dir + ".out");
        }
    }

    [Fact]
    public async Task Dash_o_size_caps_memfs_like_tmpfs_ENOSPC_past_it_and_statfs_reports_it()
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-size-").FullName;
        try
        {
            var output = await WithMountAsync(dir, $"memfs {dir} -o size=1m -o nr_inodes=1k,subtype=sized", $$"""
                grep " {{dir}} fuse.sized " /proc/mounts || echo "no fuse.sized mount"
                echo "statfs $(stat -f -c '%b %S %c' {{dir}})"
                dd if=/dev/zero of={{dir}}/big bs=64k count=32 || echo "dd failed"
                """);
            Assert.DoesNotContain("no fuse.sized mount", output);
            Assert.Contains("No space left on device", output);
            Assert.Contains("dd failed", output);
            var statfs = System.Text.RegularExpressions.Regex.Match(output, @"statfs (\d+) (\d+) (\d+)");
            Assert.True(statfs.Success, output);
            long bytes = long.Parse(statfs.Groups[1].Value) * long.Parse(statfs.Groups[2].Value);
            Assert.InRange(bytes, 1L << 19, 1L << 20);
            Assert.Equal(1024, long.Parse(statfs.Groups[3].Value));
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        }
        finally { try { Directory.Delete(dir); } catch (IOException) { } }
    }

    [Theory]
    [InlineData("memfs {0} -o size=bogus", "fuseactors: -o size: 'bogus' is not a size (50%, 512m, 2g or a number of bytes)")]
    [InlineData("memfs {0} -o size=0", "fuseactors: -o size: '0' is not a size (50%, 512m, 2g or a number of bytes)")]
    [InlineData("memfs {0} -o allow_other,nr_inodes=lots", "fuseactors: -o nr_inodes: 'lots' is not a number of inodes (a positive number with an optional k, m or g)")]
    [InlineData("memfs {0} -o nosuchoption", "fuseactors: unknown mount option 'nosuchoption' (known: " + FuseActors.Cli.MountOptionList.Known + ")")]
    [InlineData("memfs {0} -o max_write=12", "fuseactors: -o max_write: '12' is not a number of bytes from 4096 to 1048576")]
    [InlineData("memfs {0} -o entry_timeout=soon", "fuseactors: -o entry_timeout: 'soon' is not a number of seconds (e.g. 1 or 0.5, at most a year)")]
    [InlineData("passthrough /tmp {0} -o size=1m", "fuseactors: -o size= is only for memfs")]
    [InlineData("passthrough /tmp {0} -o nr_inodes=1m", "fuseactors: -o nr_inodes= is only for memfs")]
    [InlineData("cluster {0} --port 0 -o size=1m", "fuseactors: -o size= is only for memfs")]
    public async Task A_bad_dash_o_is_a_one_line_error_naming_the_option_with_exit_code_2_and_no_mount(string args, string message)
    {
        var dir = Directory.CreateTempSubdirectory("fuseactors-badopt-").FullName;
        try
        {
            var r = await RunCli("mount " + string.Format(args, dir));
            Assert.Equal(2, r.ExitCode);
            Assert.Equal(message, r.Stderr.Trim());
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_passthrough_source_whose_name_is_not_UTF8_is_mounted_by_its_bytes()
    {
        MountedFilesystem.RequireFuse();
        var root = Directory.CreateTempSubdirectory("fuseactors-latin1-").FullName;
        var dir = Path.Combine(root, "mnt");
        Directory.CreateDirectory(dir);
        try
        {
            // src-caf\xe8 ("café" in Latin-1): .NET's argv holds U+FFFD for \xe8, so only /proc/self/cmdline names it.
            await Shell.OkAsync($$"""src="$(printf '{{root}}/src-caf\350')"; mkdir "$src" && echo bonjour > "$src/hello" """);
            var output = await WithMountAsync(dir, $$"""passthrough "$(printf '{{root}}/src-caf\350')" {{dir}}""", $$"""
                cat {{dir}}/hello
                echo again > {{dir}}/written
                """);
            Assert.Contains("bonjour", output);
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
            // The file written through the mount is in the directory with the Latin-1 name, not in one named with U+FFFD.
            var check = await Shell.OkAsync($$"""cat "$(printf '{{root}}/src-caf\350')/written"; ls {{root}} | wc -l""");
            Assert.Equal("again\n2\n", check);
        }
        finally
        {
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            await Shell.RunAsync($"rm -rf {root}");
        }
    }

    [Fact]
    public async Task With_busy_unmount_keep_SIGTERM_of_a_busy_mount_exits_0_and_nothing_reaches_the_host_directory()
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-cli-keep-").FullName;
        var config = dir + ".conf";
        File.WriteAllText(config, "fuseactors.mount.busy-unmount = keep\nfuseactors.mount.unmount-grace = 2s\n");
        using var p = StartCli("mount", "memfs", dir, "--config", config);
        var stderr = p.StandardError.ReadToEndAsync();
        Process? holder = null;
        try
        {
            var ready = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith($"fuseactors: memfs mounted at {dir}", ready);
            // Busy: a process inside, and a program creating files by path until its first error.
            holder = Process.Start(new ProcessStartInfo("sleep", "60") { WorkingDirectory = dir, UseShellExecute = false })!;
            var loop = Shell.RunAsync($$"""
                i=0; while [ $i -lt 100000 ]; do
                  if ! out=$(touch "{{dir}}/f$i" 2>&1); then echo "error: $out"; exit 0; fi; i=$((i+1)); sleep 0.01
                done
                """, "/", TimeSpan.FromSeconds(60));
            await Task.Delay(500);

            await Shell.OkAsync($"kill -TERM {p.Id}");
            var result = await loop.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Matches("^error: .*(Transport endpoint is not connected|Software caused connection abort)", result.Stdout);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(p.ExitCode == 0, await stderr);
            Assert.Contains("refusing its requests (ENOTCONN)", await stderr);
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            if (holder is { HasExited: false }) { holder.Kill(); holder.WaitForExit(5000); }
            holder?.Dispose();
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            File.Delete(config);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData("unmount", 0)]
    [InlineData("abort", 1)]
    public async Task A_mount_that_ends_by_itself_exits_0_when_unmounted_and_1_when_aborted_leaving_no_mount(string how, int exitCode)
    {
        // As libfuse's daemons: an unmount from outside is a clean end; an abort through fusectl is an error.
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-cli-end-").FullName;
        using var p = StartCli("mount", "memfs", dir);
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            var ready = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith($"fuseactors: memfs mounted at {dir}", ready);
            await Shell.OkAsync($"echo hello > {dir}/f");
            if (how == "unmount") await Shell.OkAsync($"umount {dir}");
            else
            {
                var id = FuseActors.Engine.Device.FuseMounter.ConnectionId(dir);
                Assert.NotNull(id);
                Assert.Equal(FuseActors.Engine.Protocol.Errno.Ok, FuseActors.Engine.Device.FuseMounter.Abort(id.Value));
            }
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var log = await stderr;
            Assert.True(p.ExitCode == exitCode, $"exit {p.ExitCode}: {log}");
            if (exitCode != 0) Assert.Contains("ended by itself", log);
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            FuseActors.Engine.Device.FuseMounter.Unmount(dir);
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }
}
