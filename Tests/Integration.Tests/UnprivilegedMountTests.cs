using System.Diagnostics;
using FuseActors.Engine.Device;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Mounting without CAP_SYS_ADMIN, through fusermount3: the CLI runs as <c>nobody</c> inside a private mount namespace
/// (made by root with <c>unshare --mount --propagation private</c>), so the host's mount table never sees the mount.
/// Inside that namespace only, /dev/fuse is replaced by a node <c>nobody</c> may open (the host's node is untouched).
/// </summary>
public sealed class UnprivilegedMountTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");
    private const int Nobody = 65534;

    internal static string RequireFusermount() =>
        Fusermount.Find() ?? throw new InvalidOperationException("these tests need fusermount3 (apt-get install fuse3; ./build.sh deps installs it)");

    [Fact]
    public async Task An_unprivileged_user_mounts_memfs_through_fusermount3_in_a_private_namespace_and_unmounts_on_SIGTERM()
    {
        MountedFilesystem.RequireFuse();
        RequireFusermount();
        var state = Directory.CreateTempSubdirectory("fuseactors-unpriv-").FullName;
        string mnt = Path.Combine(state, "mnt"), home = Path.Combine(state, "home");
        Directory.CreateDirectory(mnt);
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(state, (UnixFileMode)0x1ED); // 0755: nobody may pass
        Chown(mnt, Nobody);
        Chown(home, Nobody);

        // Root, inside the new namespace: a /dev/fuse nobody may open (for FUSE_DEV_IOC_CLONE queues), then become nobody.
        File.WriteAllText(Path.Combine(state, "ns.sh"), $$"""
            set -e
            mkdir {{state}}/dev
            mount -t tmpfs -o size=16k,mode=755 fuseactors-test-dev {{state}}/dev
            mknod -m 666 {{state}}/dev/fuse c 10 229
            mount --bind {{state}}/dev/fuse /dev/fuse
            exec setpriv --reuid={{Nobody}} --regid={{Nobody}} --clear-groups \
                env HOME={{home}} DOTNET_CLI_HOME={{home}} DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 \
                bash {{state}}/user.sh
            """);
        // As nobody: mount, use it, tell the test it is up, wait for its go, stop with SIGTERM.
        File.WriteAllText(Path.Combine(state, "user.sh"), $$"""
            out={{home}}/out
            echo "uid $(id -u)"
            dotnet {{Cli}} mount memfs {{mnt}} > $out 2>&1 &
            pid=$!
            for i in $(seq 1 300); do grep -q "mounted at" $out && break; sleep 0.1; done
            grep -q "mounted at" $out || { cat $out >&2; exit 1; }
            grep -q " {{mnt}} fuse.fuseactors " /proc/self/mounts || { echo "not in this namespace's mount table" >&2; exit 1; }
            grep " {{mnt}} " /proc/self/mounts
            echo hello > {{mnt}}/f && mkdir {{mnt}}/d && mv {{mnt}}/f {{mnt}}/d/g && cat {{mnt}}/d/g && stat -c '%U %a' {{mnt}}/d/g || exit 1
            # The live view and the debug switch work for a mount of nobody's, through nobody's own socket directory.
            dotnet {{Cli}} stats {{mnt}} --count 1 --interval 0.2 | grep -q "ops/s" || { echo "fuseactors stats failed" >&2; exit 1; }
            dotnet {{Cli}} debug {{mnt}} on || { echo "fuseactors debug failed" >&2; exit 1; }
            ls {{mnt}}/seen-by-debug 2>/dev/null
            echo "stats and debug ok"
            touch {{home}}/mounted
            for i in $(seq 1 300); do [ -e {{home}}/go ] && break; sleep 0.1; done
            kill -TERM $pid; wait $pid; code=$?
            echo "cli exit $code"
            if grep -q " {{mnt}} " /proc/self/mounts; then echo "still mounted after SIGTERM" >&2; exit 1; fi
            cat $out
            exit $code
            """);
        var run = Shell.RunAsync($"unshare --mount --propagation private bash {state}/ns.sh", timeout: TimeSpan.FromSeconds(90));
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!File.Exists(Path.Combine(home, "mounted")) && !run.IsCompleted && DateTime.UtcNow < deadline)
                await Task.Delay(100);
            Assert.True(File.Exists(Path.Combine(home, "mounted")), $"the mount never came up: {(run.IsCompleted ? run.Result.ToString() : "timed out")}");
            // While it is mounted in the namespace, the host's mount table does not have it.
            Assert.DoesNotContain(mnt, File.ReadAllText("/proc/mounts"));
            File.WriteAllText(Path.Combine(home, "go"), "");

            var r = await run;
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains($"uid {Nobody}", r.Stdout);
            // fusermount3 mounted it for nobody: user_id=65534, nosuid,nodev; allow_other dropped (no user_allow_other here).
            Assert.Matches($@"memfs {mnt} fuse\.fuseactors rw,nosuid,nodev,\S*user_id={Nobody},group_id={Nobody}", r.Stdout);
            Assert.Matches(@"hello\nnobody 6[46]4\n", r.Stdout);
            Assert.Contains("cli exit 0", r.Stdout);
            Assert.Contains("stats and debug ok", r.Stdout);
            Assert.Contains("name=seen-by-debug", r.Stdout);   // the daemon's debug log, switched on from outside
            Assert.DoesNotContain("no control socket", r.Stdout);
            Assert.Contains("mounted through fusermount3", r.Stdout);
            if (!Fusermount.UserAllowOther()) Assert.Contains("allow_other dropped", r.Stdout);
            Assert.DoesNotContain(mnt, File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            if (!run.IsCompleted) File.WriteAllText(Path.Combine(home, "go"), "");
            try { await run.WaitAsync(TimeSpan.FromSeconds(30)); } catch (Exception) { }
            FuseMounter.Unmount(mnt);
            try { Directory.Delete(state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public void Without_a_way_to_mount_the_error_says_what_is_needed()
    {
        // mount-helper = never with auto_unmount: nothing is mounted, and the message names the missing piece.
        var dir = Directory.CreateTempSubdirectory("fuseactors-nohelper-").FullName;
        try
        {
            var e = Assert.Throws<FuseDeviceException>(() =>
                FuseMounter.MountAny(dir, new MountOptions { AutoUnmount = true, MountHelper = MountHelper.Never }));
            Assert.Equal("auto_unmount needs fusermount3, but fuseactors.mount.mount-helper = never", e.Message);
            Assert.False(FuseMounter.IsMountPoint(dir));
        }
        finally { Directory.Delete(dir); }
    }

    [Fact]
    public void Fusermount3s_own_error_is_in_the_exception()
    {
        MountedFilesystem.RequireFuse();
        RequireFusermount();
        // A mountpoint that does not exist: fusermount3 refuses and says why.
        var missing = "/nonexistent/fuseactors-" + Guid.NewGuid().ToString("N");
        var e = Assert.Throws<FuseDeviceException>(() =>
            FuseMounter.MountAny(missing, new MountOptions { MountHelper = MountHelper.Always }));
        Assert.StartsWith($"fusermount3 could not mount {missing}: fusermount3: ", e.Message);
        Assert.Contains("No such file or directory", e.Message);
    }

    private static void Chown(string path, int uid)
    {
        var psi = new ProcessStartInfo("chown", [$"{uid}:{uid}", path]) { UseShellExecute = false };
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
