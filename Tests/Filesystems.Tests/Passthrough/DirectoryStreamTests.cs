using System.Text;
using FuseActors.Filesystems.Interop;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// A host directory's stream takes its 32 KiB read buffer on its first read and gives it back when disposed: an
/// OPENDIR whose listing the kernel serves from its own cache (never read) allocates no buffer, and streams opened one
/// after the other share the same few.
/// </summary>
public sealed class DirectoryStreamTests : IDisposable
{
    private const int BufferBytes = 32 * 1024;
    private readonly string _dir = Directory.CreateTempSubdirectory("fuseactors-dirstream-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static unsafe int OpenDirectory(byte[] pathZ)
    {
        int fd;
        fixed (byte* p = pathZ) fd = Native.openat(Native.AT_FDCWD, p, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0);
        if (fd < 0) Assert.Fail($"open {Encoding.UTF8.GetString(pathZ)}: {Native.LastError()}");
        return fd;
    }

    private static List<string> ReadAll(DirectoryStream stream)
    {
        var names = new List<string>();
        while (true)
        {
            int rc = stream.Peek(out var e);
            Assert.True(rc >= 0, $"getdents64: {(Engine.Protocol.Errno)(-rc)}");
            if (rc == 0) return names;
            var name = Encoding.UTF8.GetString(stream.Name(in e));
            if (name is not "." and not "..") names.Add(name);
            stream.Advance(in e);
        }
    }

    private string MakeDirectory(string name, int files)
    {
        var path = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        for (int i = 0; i < files; i++) File.WriteAllText(Path.Combine(path, $"{name}-entry-{i:D5}"), "");
        return path;
    }

    [Fact]
    public void A_stream_opened_and_closed_without_a_read_allocates_no_buffer()
    {
        var path = Encoding.UTF8.GetBytes(MakeDirectory("unread", 3) + "\0");
        using (var warm = new DirectoryStream(OpenDirectory(path))) { } // the JIT's own allocations, once
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            using var stream = new DirectoryStream(OpenDirectory(path));
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // A buffer per stream would be 1000 x 32 KiB (~32 MB); what is left is the streams themselves (~50 KB).
        Assert.True(allocated < 10 * BufferBytes, $"1000 unread streams allocated {allocated} bytes");
    }

    [Fact]
    public void Streams_read_one_after_the_other_reuse_their_buffers()
    {
        var path = Encoding.UTF8.GetBytes(MakeDirectory("reread", 10) + "\0");
        using (var warm = new DirectoryStream(OpenDirectory(path))) ReadAll(warm);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            using var stream = new DirectoryStream(OpenDirectory(path));
            Assert.Equal(10, ReadAll(stream).Count);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Other tests' streams may take a spare now and then; a fresh buffer for every stream would be ~32 MB.
        Assert.True(allocated < 100L * BufferBytes, $"1000 streams read one after the other allocated {allocated} bytes");
    }
}
