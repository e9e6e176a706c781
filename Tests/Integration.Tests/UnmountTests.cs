using System.Diagnostics;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>Unmounting ends the connection cleanly, even while programs are hammering the mount.</summary>
public sealed class UnmountTests
{
    [Fact]
    public async Task Unmount_during_load_ends_the_connection_and_leaves_no_mount()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props());
        await using (fs) await UnmountUnderLoadAsync(fs);
    }

    [Fact]
    public async Task A_mount_whose_connection_was_aborted_from_outside_is_unmounted_when_disposed()
    {
        // Before, a connection that had ended on its own left its (dead, ENOTCONN) mount behind at unmount.
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props());
        await using (fs)
        {
            uint id = fs.Mount.FuseControlId!.Value;
            Assert.True(Directory.Exists($"/sys/fs/fuse/connections/{id}"), "the id names this mount's fusectl connection");
            Assert.Equal(Errno.Ok, FuseMounter.Abort(id));
            await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Contains(fs.Path, File.ReadAllText("/proc/mounts")); // dead, still listed
            Assert.Equal(FuseActors.Actors.Connection.ConnectionEndKind.Aborted, fs.Mount.EndedBecause?.Kind);

            await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
        }
    }

    /// <summary>Four programs hammer <paramref name="fs"/> with their working directory inside it, so they keep the
    /// detached mount busy; the unmount must then abort the connection after its grace, every program must get an error
    /// and end, and no mount is left. <paramref name="whileLoaded"/> checks the mount once the load is running.</summary>
    internal static async Task UnmountUnderLoadAsync(MountedFilesystem fs, Action? whileLoaded = null)
    {
        var load = Shell.RunAsync("""
            for p in 1 2 3 4; do
              ( for i in $(seq 1 100000); do dd if=/dev/zero of=f$p bs=64k count=4 status=none 2>/dev/null || exit 0;
                  cat f$p > /dev/null 2>&1 || exit 0; ls > /dev/null 2>&1 || exit 0; done ) &
            done; wait; echo done
            """, fs.Path, timeout: TimeSpan.FromMinutes(1));
        await Task.Delay(1500);
        Assert.False(load.IsCompleted, "the load should still be running when the unmount starts");
        whileLoaded?.Invoke();

        await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30));
        await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        var result = await load.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("done\n", result.Stdout);
        Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
    }

    [Fact]
    public async Task An_external_umount_completes_the_mount()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props());
        await using (fs)
        {
            await Shell.OkAsync($"echo x > {fs["f"]} && umount {fs.Path}");
            await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    // A program that keeps creating files by path under the mountpoint, as fio does; it stops at its first error
    // and prints it. Its working directory is given by the caller.
    private static string CreateLoop(string mountpoint, int count = 100000) => $$"""
        i=0
        while [ $i -lt {{count}} ]; do
          if ! out=$(touch "{{mountpoint}}/f$i" 2>&1); then echo "error: $out"; exit 0; fi
          i=$((i+1)); sleep 0.01
        done
        echo finished
        """;

    private static Process HoldInside(string directory) =>
        Process.Start(new ProcessStartInfo("sleep", "60") { WorkingDirectory = directory, UseShellExecute = false })!;

    private static void Kill(Process p)
    {
        try { if (!p.HasExited) { p.Kill(); p.WaitForExit(5000); } } catch (InvalidOperationException) { }
        p.Dispose();
    }

    /// <summary>Cleanup after the lazy unmount: removes the host mountpoint directory and whatever fell through into it.</summary>
    private static void RemoveHostDirectory(string path)
    {
        if (!Directory.Exists(path) || FuseMounter.IsMountPoint(path)) return;
        try { Directory.Delete(path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public async Task Keep_mode_refuses_a_busy_mount_with_ENOTCONN_and_nothing_reaches_the_host_directory()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), options: new MountOptions { Subtype = "fuseactors-test", BusyUnmount = BusyUnmount.Keep });
        // A process with its working directory inside keeps the mount busy for the whole grace.
        var holder = HoldInside(fs.Path);
        try
        {
            await using (fs)
            {
                var loop = Shell.RunAsync(CreateLoop(fs.Path), "/", TimeSpan.FromSeconds(60));
                await Task.Delay(500);
                Assert.False(loop.IsCompleted, "the loop should still be creating files when the unmount starts");

                var unmount = fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2));
                // During the grace the mount stays in place and answers ENOTCONN: the loop fails, it does not hang.
                var result = await loop.WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Matches("^error: .*(Transport endpoint is not connected|Software caused connection abort)", result.Stdout);
                Assert.True(FuseMounter.IsMountPoint(fs.Path) || unmount.IsCompleted, "keep mode must not detach the mount before the grace ends");

                await unmount.WaitAsync(TimeSpan.FromSeconds(20));
                await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
                Assert.False(FuseMounter.IsMountPoint(fs.Path), "after the grace the mount is removed (lazily)");
                Assert.Empty(Directory.GetFileSystemEntries(fs.Path));
                Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
            }
        }
        finally
        {
            Kill(holder);
            FuseMounter.Unmount(fs.Path);
            RemoveHostDirectory(fs.Path);
        }
    }

    [Fact]
    public async Task Keep_mode_removes_the_mount_as_soon_as_nobody_holds_it()
    {
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), options: new MountOptions { Subtype = "fuseactors-test", BusyUnmount = BusyUnmount.Keep });
        try
        {
            await using (fs)
            {
                // The loop alone holds the mount (its working directory is inside); it leaves at its first error.
                var loop = Shell.RunAsync(CreateLoop(fs.Path), fs.Path, TimeSpan.FromSeconds(60));
                await Task.Delay(500);
                Assert.False(loop.IsCompleted, "the loop should still be creating files when the unmount starts");

                var watch = Stopwatch.StartNew();
                await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(30)).WaitAsync(TimeSpan.FromSeconds(40));
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the unmount took {watch.Elapsed}, though the mount was free long before its 30 s grace");

                var result = await loop.WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Matches("^error: .*(Transport endpoint is not connected|Software caused connection abort)", result.Stdout);
                await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));
                Assert.False(FuseMounter.IsMountPoint(fs.Path));
                Assert.Empty(Directory.GetFileSystemEntries(fs.Path));
            }
        }
        finally
        {
            FuseMounter.Unmount(fs.Path);
            RemoveHostDirectory(fs.Path);
        }
    }

    [Fact]
    public async Task Detach_mode_lets_a_program_that_resolves_paths_create_files_in_the_host_directory()
    {
        // Today's default, documented: the detached mount leaves the namespace at once, so the loop's next
        // touch by path creates its file in the host's mountpoint directory underneath.
        var fs = await MountedFilesystem.StartAsync(MemoryFs.Props());
        var holder = HoldInside(fs.Path);
        try
        {
            await using (fs)
            {
                var loop = Shell.RunAsync(CreateLoop(fs.Path, count: 150), "/", TimeSpan.FromSeconds(60));
                await Task.Delay(300);
                Assert.False(loop.IsCompleted, "the loop should still be creating files when the unmount starts");

                await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(20));
                var result = await loop.WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal("finished\n", result.Stdout);
                Assert.False(FuseMounter.IsMountPoint(fs.Path));
                Assert.NotEmpty(Directory.GetFiles(fs.Path));
            }
        }
        finally
        {
            Kill(holder);
            FuseMounter.Unmount(fs.Path);
            RemoveHostDirectory(fs.Path);
        }
    }
}
