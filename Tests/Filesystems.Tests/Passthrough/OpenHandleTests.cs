using System.Text;
using FuseActors.Filesystems.Interop;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// An open handle's descriptors are counted: the table holds one reference and every host call on an I/O thread one
/// more, and whoever drops the last closes them. So RELEASE (which takes the handle out of the table at once) never
/// closes a descriptor under a call that still uses it.
/// </summary>
public sealed unsafe class OpenHandleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fuseactors-handles-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A descriptor of a file of its own, so a check of it cannot be fooled by another test reusing the number.</summary>
    private (int Fd, string Path) OpenFile(string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, name);
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0")) fd = Native.openat(Native.AT_FDCWD, p, Native.O_RDONLY | Native.O_CLOEXEC, 0);
        Assert.True(fd >= 0, $"open {path}: {Native.LastError()}");
        return (fd, path);
    }

    private static bool IsOpen(int fd, string path)
    {
        try { return new FileInfo($"/proc/self/fd/{fd}").LinkTarget == path; }
        catch (IOException) { return false; }
    }

    private static HostInode File_() => new(2, -1, 0, 0, 0x8000);

    [Fact]
    public void Closing_a_handle_no_call_uses_closes_its_descriptors_at_once()
    {
        var (fd, path) = OpenFile("a");
        var (twin, twinPath) = OpenFile("a-buffered");
        var table = new OpenHandles();
        ulong fh = table.Add(fd, File_(), bufferedTwin: twin);
        var h = table.Get(fh)!;

        Assert.True(table.Close(fh));
        Assert.True(h.IsClosed);
        Assert.False(IsOpen(fd, path));
        Assert.False(IsOpen(twin, twinPath));
        Assert.False(table.Close(fh));
    }

    [Fact]
    public void A_released_handle_keeps_its_descriptors_until_the_last_call_using_them_ends()
    {
        var (fd, path) = OpenFile("b");
        var (twin, twinPath) = OpenFile("b-buffered");
        var table = new OpenHandles();
        ulong fh = table.Add(fd, File_(), bufferedTwin: twin);
        var h = table.Get(fh)!;
        h.Acquire(); // two calls handed to I/O threads
        h.Acquire();

        Assert.True(table.Close(fh)); // RELEASE while both still run
        Assert.Null(table.Get(fh));   // new requests get EBADF
        Assert.Equal(0, table.Count);
        Assert.False(h.IsClosed);
        Assert.True(IsOpen(fd, path));

        h.Release(); // the first call ends
        Assert.True(IsOpen(fd, path));
        Assert.True(IsOpen(twin, twinPath));

        h.Release(); // the last one closes
        Assert.True(h.IsClosed);
        Assert.False(IsOpen(fd, path));
        Assert.False(IsOpen(twin, twinPath));
        Assert.Throws<InvalidOperationException>(h.Release);
    }

    [Fact]
    public void Calls_ending_on_other_threads_close_the_descriptor_exactly_once()
    {
        for (int round = 0; round < 50; round++)
        {
            var (fd, path) = OpenFile($"c{round}");
            var table = new OpenHandles();
            ulong fh = table.Add(fd, File_());
            var h = table.Get(fh)!;
            const int calls = 8;
            for (int i = 0; i < calls; i++) h.Acquire();
            using var start = new Barrier(calls + 1);
            var threads = Enumerable.Range(0, calls).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                h.Release();
            })).ToList();
            threads.ForEach(t => t.Start());
            start.SignalAndWait();
            table.Close(fh);
            threads.ForEach(t => t.Join());
            Assert.True(h.IsClosed);
            Assert.False(IsOpen(fd, path));
        }
    }
}
