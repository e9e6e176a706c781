using System.Diagnostics;
using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Kernel notifications sent by a filesystem actor, and file locks kept by one, on real mounts: the kernel drops what
/// it cached when told, flock(1) and fcntl locks between processes go through the filesystem, a waiting lock is freed
/// by the unlock and a waiter killed by a signal gets EINTR while the mount goes on.
/// </summary>
public sealed class NotificationAndLockTests
{
    private static async Task<string> EventuallyAsync(string script, Func<Shell.Result, bool> done, string what)
    {
        Shell.Result last = null!;
        for (int i = 0; i < 100; i++)
        {
            last = await Shell.RunAsync(script, timeout: TimeSpan.FromSeconds(20));
            if (done(last)) return last.Stdout;
            await Task.Delay(50);
        }
        Assert.Fail($"not within 5 s: {what}; last: {last}");
        return "";
    }

    [Fact]
    public async Task Notifications_make_the_kernel_see_content_sizes_and_names_that_changed_behind_its_back()
    {
        var handle = new ChangingFs.Handle();
        // Read-only: a read on a writable mount marks atime stale, and the next stat then asks again (and sees the change).
        await using var fs = await MountedFilesystem.StartAsync(ChangingFs.Props(handle),
            options: new Engine.Device.MountOptions { Subtype = "fuseactors-test", ReadOnly = true });
        var actor = await handle.Actor.WaitAsync(TimeSpan.FromSeconds(10));
        var data = fs["data"];

        Assert.Equal("old\n", await Shell.OkAsync($"cat {data}"));
        Assert.Equal("4", (await Shell.OkAsync($"stat -c %s {data}")).Trim());

        // Changed behind the kernel's back: pages (KEEP_CACHE) and attributes (1 h) are still the old ones.
        Assert.True(await actor.Ask<bool>(new ChangingFs.SetContent(2, "brand new content\n")));
        Assert.Equal("old\n", await Shell.OkAsync($"cat {data}"));
        Assert.Equal("4", (await Shell.OkAsync($"stat -c %s {data}")).Trim());

        Assert.True(await actor.Ask<bool>(new ChangingFs.InvalidateInode(2)));
        await EventuallyAsync($"stat -c %s {data} && cat {data}", r => r.Stdout == "18\nbrand new content\n", "new size and content");

        // Renamed away behind the kernel's back: the cached dentry still finds it, until INVAL_ENTRY.
        Assert.True(await actor.Ask<bool>(new ChangingFs.MoveName("data", "renamed")));
        Assert.Equal(0, (await Shell.RunAsync($"stat {data}")).ExitCode);
        Assert.True(await actor.Ask<bool>(new ChangingFs.InvalidateEntry("data")));
        await EventuallyAsync($"stat {data}", r => r.ExitCode != 0 && r.Stderr.Contains("No such file"), "data gone");
        Assert.Equal("brand new content\n", await Shell.OkAsync($"cat {fs["renamed"]}"));

        // The same with DELETE (name and node).
        Assert.Equal("other\n", await Shell.OkAsync($"cat {fs["other"]}"));
        Assert.True(await actor.Ask<bool>(new ChangingFs.MoveName("other", "elsewhere")));
        Assert.Equal(0, (await Shell.RunAsync($"stat {fs["other"]}")).ExitCode);
        Assert.True(await actor.Ask<bool>(new ChangingFs.Delete(3, "other")));
        await EventuallyAsync($"stat {fs["other"]}", r => r.ExitCode != 0 && r.Stderr.Contains("No such file"), "other gone");
        Assert.Equal("other\n", await Shell.OkAsync($"cat {fs["elsewhere"]}"));
    }

    private static readonly ConnectionSettings LockSettings = new()
    {
        // Short enough to show a waiting lock outlives it: SETLKW is exempt.
        RequestTimeout = TimeSpan.FromSeconds(2),
        InterruptGrace = TimeSpan.FromSeconds(10),
        SweepInterval = TimeSpan.FromMilliseconds(50),
    };

    [Fact]
    public async Task Flock_between_processes_goes_through_the_filesystem_and_a_waiter_gets_the_lock_when_it_is_released()
    {
        var counts = new LockingFs.Counts();
        await using var fs = await MountedFilesystem.StartAsync(LockingFs.Props(counts), LockSettings);
        var file = fs["file"];
        var output = await Shell.OkAsync($$"""
            flock -x {{file}} sleep 3 &
            holder=$!
            for i in $(seq 1 100); do flock -n {{file}} true || break; sleep 0.05; done
            flock -n {{file}} true; echo "nonblocking=$?"
            start=$(date +%s%N)
            flock -x -w 8 {{file}} true; echo "waited=$?"
            echo "ms=$(( ($(date +%s%N) - start) / 1000000 ))"
            wait $holder; echo "holder=$?"
            flock -n {{file}} true; echo "after=$?"
            """, timeout: TimeSpan.FromSeconds(30));
        Assert.Contains("nonblocking=1", output);
        Assert.Contains("waited=0", output);
        Assert.Contains("holder=0", output);
        Assert.Contains("after=0", output);
        int ms = int.Parse(output.Split('\n').First(l => l.StartsWith("ms=", StringComparison.Ordinal))[3..]);
        Assert.True(ms > 1000, $"the waiter got the lock after {ms} ms, before the holder let go\n{output}");
        Assert.True(Volatile.Read(ref counts.SetLocks) > 0, "the kernel kept the locks itself");
        Assert.True(Volatile.Read(ref counts.WaitingSetLocks) > 0, "no SETLKW waited in the filesystem");
        // The waiter waited longer than the request timeout (2 s) and was not answered EIO: it got its lock (waited=0).
    }

    [Fact]
    public async Task A_flock_waiter_killed_by_a_signal_gets_EINTR_and_the_mount_keeps_working()
    {
        var counts = new LockingFs.Counts();
        await using var fs = await MountedFilesystem.StartAsync(LockingFs.Props(counts), LockSettings);
        var file = fs["file"];
        var output = await Shell.OkAsync($$"""
            flock -x {{file}} sleep 4 &
            holder=$!
            for i in $(seq 1 100); do flock -n {{file}} true || break; sleep 0.05; done
            start=$(date +%s%N)
            timeout 1 flock -x {{file}} true; echo "killed=$?"
            echo "ms=$(( ($(date +%s%N) - start) / 1000000 ))"
            flock -n {{file}} true; echo "still-held=$?"
            wait $holder
            flock -n {{file}} true; echo "after=$?"
            """, timeout: TimeSpan.FromSeconds(30));
        Assert.Contains("killed=124", output);      // timeout's SIGTERM ended the waiting flock
        Assert.Contains("still-held=1", output);    // the holder still has it; the killed waiter took nothing
        Assert.Contains("after=0", output);         // and nobody holds it once the holder is done
        int ms = int.Parse(output.Split('\n').First(l => l.StartsWith("ms=", StringComparison.Ordinal))[3..]);
        Assert.True(ms < 3000, $"the killed waiter took {ms} ms to go (the interrupt was not answered at once)\n{output}");
        Assert.Equal(1, Volatile.Read(ref counts.Interrupted));
        Assert.Equal("", await Shell.OkAsync($"cat {file}"));
    }

    [Fact]
    public async Task Fcntl_record_locks_conflict_between_processes_by_range_and_F_GETLK_names_the_holder()
    {
        var counts = new LockingFs.Counts();
        await using var fs = await MountedFilesystem.StartAsync(LockingFs.Props(counts), LockSettings);
        var script = Path.Combine(Path.GetTempPath(), $"fuseactors-lockf-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(script, """
            import fcntl, os, struct, subprocess, sys
            path = sys.argv[1]
            if len(sys.argv) > 2:
                # The child: another process (another lock owner).
                f = open(path, 'r+')
                try:
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                    print('child-0-9=locked')
                except OSError as e:
                    print('child-0-9=' + str(e.errno))
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 10)
                print('child-10-19=locked')
                wanted = struct.pack('hh4xqqi4x', fcntl.F_WRLCK, os.SEEK_SET, 5, 1, 0)
                t, w, start, length, pid = struct.unpack('hh4xqqi4x', fcntl.fcntl(f, fcntl.F_GETLK, wanted))
                print(f'getlk type={t} start={start} len={length} pid={pid}')
                sys.exit(0)
            f = open(path, 'r+')
            fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)
            print('parent-pid=' + str(os.getpid()))
            sys.stdout.flush()
            subprocess.run([sys.executable, sys.argv[0], path, 'child'], check=True)
            fcntl.lockf(f, fcntl.LOCK_UN, 10, 0)
            out = subprocess.run([sys.executable, sys.argv[0], path, 'child'], check=True, capture_output=True, text=True).stdout
            print('after-unlock ' + out.replace('\n', ' '))
            """);
        try
        {
            var output = await Shell.OkAsync($"python3 {script} {fs["file"]}", timeout: TimeSpan.FromSeconds(30));
            var pid = output.Split('\n').First(l => l.StartsWith("parent-pid=", StringComparison.Ordinal))["parent-pid=".Length..];
            Assert.Contains("child-0-9=11", output);                          // EAGAIN: the parent holds bytes 0..9
            Assert.Contains("child-10-19=locked", output);                    // the next range is free
            Assert.Contains($"getlk type=1 start=0 len=10 pid={pid}", output); // F_WRLCK, the parent's range and pid
            Assert.Contains("after-unlock child-0-9=locked child-10-19=locked getlk type=2", output); // F_UNLCK: free
            Assert.True(Volatile.Read(ref counts.GetLocks) >= 2);
        }
        finally
        {
            File.Delete(script);
        }
    }
}
