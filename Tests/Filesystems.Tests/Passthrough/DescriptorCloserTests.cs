using System.Text;
using FuseActors.Filesystems.Interop;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// The descriptors of forgotten nodes are closed by a thread of the filesystem's own, not by the one that handed them
/// over: every one handed over is closed soon after, in bursts or one at a time, and none is left open by Dispose.
/// </summary>
public sealed class DescriptorCloserTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fuseactors-closer-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Descriptors of files of their own, so a check cannot be fooled by another test reusing a number.</summary>
    private unsafe List<(int Fd, string Path)> OpenFiles(string prefix, int count)
    {
        var files = new List<(int, string)>();
        for (int i = 0; i < count; i++)
        {
            var path = Path.Combine(_dir, $"{prefix}{i}");
            File.WriteAllText(path, path);
            int fd;
            fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0")) fd = Native.openat(Native.AT_FDCWD, p, Native.O_RDONLY | Native.O_CLOEXEC, 0);
            Assert.True(fd >= 0, $"open {path}: {Native.LastError()}");
            files.Add((fd, path));
        }
        return files;
    }

    private static bool IsOpen(int fd, string path)
    {
        try { return new FileInfo($"/proc/self/fd/{fd}").LinkTarget == path; }
        catch (IOException) { return false; }
    }

    private static async Task<int> StillOpenAfterWaiting(List<(int Fd, string Path)> files)
    {
        int open = files.Count;
        for (int i = 0; i < 200 && open > 0; i++)
        {
            await Task.Delay(10);
            open = files.Count(f => IsOpen(f.Fd, f.Path));
        }
        return open;
    }

    [Fact]
    public async Task Every_descriptor_handed_over_is_closed_by_its_thread_in_a_burst_or_one_at_a_time()
    {
        using var closer = new DescriptorCloser("test-close");
        var burst = OpenFiles("burst", 500);
        foreach (var (fd, _) in burst) closer.Close(fd);
        Assert.Equal(0, await StillOpenAfterWaiting(burst));

        // One at a time, with pauses longer than its millisecond of draining: it sleeps, and is woken again each time.
        var single = OpenFiles("single", 5);
        foreach (var (fd, path) in single)
        {
            await Task.Delay(20);
            closer.Close(fd);
            Assert.Equal(0, await StillOpenAfterWaiting([(fd, path)]));
        }
        Assert.Equal(505, closer.Closed); // all of them by its own thread
    }

    [Fact]
    public void Dispose_closes_what_is_still_queued_and_a_close_after_it_is_made_at_once()
    {
        var closer = new DescriptorCloser("test-close");
        var files = OpenFiles("queued", 200);
        foreach (var (fd, _) in files) closer.Close(fd);
        closer.Dispose();
        Assert.DoesNotContain(files, f => IsOpen(f.Fd, f.Path));

        var late = OpenFiles("late", 1)[0];
        closer.Close(late.Fd);
        Assert.False(IsOpen(late.Fd, late.Path));
    }
}
