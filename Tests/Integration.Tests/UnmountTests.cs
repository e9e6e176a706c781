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
        await using (fs)
        {
            // The load runs with its working directory inside the mount, so it keeps the detached mount busy: the
            // unmount must then abort the connection after its grace, and every process must get an error and end.
            var load = Shell.RunAsync("""
                for p in 1 2 3 4; do
                  ( for i in $(seq 1 100000); do dd if=/dev/zero of=f$p bs=64k count=4 status=none 2>/dev/null || exit 0;
                      cat f$p > /dev/null 2>&1 || exit 0; ls > /dev/null 2>&1 || exit 0; done ) &
                done; wait; echo done
                """, fs.Path, timeout: TimeSpan.FromMinutes(1));
            await Task.Delay(1500);
            Assert.False(load.IsCompleted, "the load should still be running when the unmount starts");

            await fs.Mount.UnmountAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30));
            await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10));

            var result = await load.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal("done\n", result.Stdout);
            Assert.DoesNotContain(fs.Path, File.ReadAllText("/proc/mounts"));
        }
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
}
