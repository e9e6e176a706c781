using Akka.Configuration;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Mount options as libfuse has them: <c>auto_unmount</c> (a <c>kill -9</c> of the daemon leaves no dead mount),
/// <c>ro</c>, <c>fsname=</c> and <c>max_read=</c>, each through mount(2) and through fusermount3.
/// </summary>
public sealed class MountOptionTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");

    [Fact]
    public async Task Auto_unmount_leaves_no_dead_mount_after_kill_9_of_the_daemon()
    {
        MountedFilesystem.RequireFuse();
        UnprivilegedMountTests.RequireFusermount();
        var dir = Directory.CreateTempSubdirectory("fuseactors-autounmount-").FullName;
        File.WriteAllText(dir + ".conf", "fuseactors.mount.auto-unmount = on\n");
        try
        {
            var output = await Shell.OkAsync($$"""
                dotnet {{Cli}} mount memfs {{dir}} --config {{dir}}.conf > {{dir}}.out 2>&1 &
                pid=$!
                for i in $(seq 1 300); do grep -q "mounted at" {{dir}}.out && break; sleep 0.1; done
                grep -q "mounted at" {{dir}}.out || { cat {{dir}}.out >&2; exit 1; }
                grep -q " {{dir}} fuse.fuseactors " /proc/mounts || { echo "not mounted" >&2; exit 1; }
                echo data > {{dir}}/f
                kill -9 $pid; wait $pid 2>/dev/null
                for i in $(seq 1 100); do grep -q " {{dir}} " /proc/mounts || break; sleep 0.1; done
                if grep -q " {{dir}} " /proc/mounts; then echo "still mounted 10 s after kill -9" >&2; exit 1; fi
                cat {{dir}}.out
                """, timeout: TimeSpan.FromSeconds(60));
            Assert.Contains("mounted through fusermount3 (auto_unmount)", output);
            Assert.False(FuseMounter.IsDeadFuseMount(dir));
            Assert.False(File.Exists(Path.Combine(dir, "f")));   // the host directory underneath, as before the mount
        }
        finally
        {
            FuseMounter.Unmount(dir);
            File.Delete(dir + ".conf");
            File.Delete(dir + ".out");
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData(MountHelper.Never)]    // mount(2) with MS_RDONLY
    [InlineData(MountHelper.Always)]   // fusermount3 -o ro
    public async Task A_read_only_mount_fails_writes_with_EROFS(MountHelper helper)
    {
        if (helper == MountHelper.Always) UnprivilegedMountTests.RequireFusermount();
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(MemoryFsOptions.Default),
            options: new MountOptions { Subtype = "fuseactors-test", ReadOnly = true, MountHelper = helper });
        Assert.Matches($@" {fs.Path} fuse\.fuseactors-test ro,", File.ReadAllText("/proc/mounts"));
        var r = await Shell.RunAsync($"echo x > {fs.Path}/f");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Read-only file system", r.Stderr);
        r = await Shell.RunAsync($"mkdir {fs.Path}/d");
        Assert.Contains("Read-only file system", r.Stderr);
        await Shell.OkAsync($"ls -la {fs.Path}");
    }

    [Theory]
    [InlineData(MountHelper.Never)]
    [InlineData(MountHelper.Always)]
    public async Task Fsname_and_max_read_show_in_proc_mounts(MountHelper helper)
    {
        if (helper == MountHelper.Always) UnprivilegedMountTests.RequireFusermount();
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(MemoryFsOptions.Default),
            options: new MountOptions { Subtype = "fuseactors-test", Source = "my-fsname,with-comma", MaxRead = 65536, MountHelper = helper });
        var line = File.ReadLines("/proc/mounts").Single(l => l.Split(' ')[1] == fs.Path);
        Assert.StartsWith($"my-fsname,with-comma {fs.Path} fuse.fuseactors-test rw,", line);
        Assert.Contains("max_read=65536", line);
        await Shell.OkAsync($"echo hello > {fs.Path}/f && cat {fs.Path}/f");
    }

    [Fact]
    public void The_mount_settings_are_read_from_fuseactors_mount()
    {
        var config = ConfigurationFactory.ParseString("""
            fuseactors.mount {
              read-only = on
              fsname = "named"
              max-read = 128k
              auto-unmount = on
              mount-helper = always
            }
            """);
        var o = MountOptionsConfig.FromConfig(config, "memfs");
        Assert.True(o.ReadOnly);
        Assert.Equal("named", o.Source);
        Assert.Equal(128u * 1024, o.MaxRead);
        Assert.True(o.AutoUnmount);
        Assert.Equal(MountHelper.Always, o.MountHelper);

        // The defaults of akka.hocon: off, the caller's source, the kernel's max_read, auto.
        var defaults = MountOptionsConfig.FromConfig(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "akka.hocon"))), "memfs");
        Assert.False(defaults.ReadOnly);
        Assert.Equal("memfs", defaults.Source);
        Assert.Equal(0u, defaults.MaxRead);
        Assert.False(defaults.AutoUnmount);
        Assert.Equal(MountHelper.Auto, defaults.MountHelper);
    }
}
