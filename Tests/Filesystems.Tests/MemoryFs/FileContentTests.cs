using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

/// <summary>A file's contents move from managed chunks to a memfd once they pass the threshold, unchanged.</summary>
public class FileContentTests
{
    private const int Chunk = FileData.ChunkSize;
    private const long Threshold = 4 * Chunk;

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] ReadAll(FileContent c)
    {
        var b = new byte[c.Size];
        Assert.Equal(b.Length, c.Read(0, b));
        return b;
    }

    [Fact]
    public void Small_files_stay_in_chunks_and_a_write_past_the_threshold_moves_them_to_a_memfd_intact()
    {
        using var c = new FileContent(Threshold);
        var head = Pattern(Chunk, 1);
        Assert.Equal(Errno.Ok, c.Write(0, head));
        Assert.Equal(Errno.Ok, c.Write(3 * Chunk, head)); // a hole of two chunks between
        Assert.False(c.InMemfd);

        var tail = Pattern(3 * Chunk, 2); // 2 + 3 chunks > the 4-chunk threshold
        Assert.Equal(Errno.Ok, c.Write(6 * Chunk, tail));
        Assert.True(c.InMemfd);
        Assert.Equal(Errno.Ok, c.SpillError);

        var expected = new byte[9 * Chunk];
        head.CopyTo(expected, 0);
        head.CopyTo(expected, 3 * Chunk);
        tail.CopyTo(expected, 6 * Chunk);
        Assert.Equal(9L * Chunk, c.Size);
        Assert.Equal(expected, ReadAll(c));

        // The hole moved as a hole: nothing allocated for it, and SEEK_DATA/SEEK_HOLE still see it.
        Assert.Equal(5L * Chunk, c.AllocatedBytes);
        Assert.Equal((long)Chunk, c.SeekHole(0));
        Assert.Equal(3L * Chunk, c.SeekData(Chunk));
    }

    [Fact]
    public void A_sparse_file_moved_to_a_memfd_keeps_its_size_and_reads_zeros_in_its_holes()
    {
        using var c = new FileContent(Threshold);
        Assert.Equal(Errno.Ok, c.Write(0, [1, 2, 3]));
        Assert.Equal(Errno.Ok, c.Truncate(3L << 30)); // 3 GiB, one small chunk of data
        Assert.Equal(Errno.Ok, c.Allocate(Chunk, 8 * Chunk, keepSize: true));
        Assert.True(c.InMemfd);
        Assert.Equal(3L << 30, c.Size);
        var probe = new byte[16];
        Assert.Equal(16, c.Read((2L << 30) + 5, probe));
        Assert.All(probe, b => Assert.Equal(0, b));
        Assert.Equal(3, c.Read(0, probe.AsSpan(0, 3)));
        Assert.Equal(new byte[] { 1, 2, 3 }, probe[..3]);
    }

    [Fact]
    public void Truncate_and_punch_hole_free_memfd_pages()
    {
        using var c = new FileContent(0);
        Assert.Equal(Errno.Ok, c.Write(0, Pattern(8 * Chunk, 3)));
        Assert.True(c.InMemfd);
        Assert.Equal(8L * Chunk, c.AllocatedBytes);
        Assert.Equal(Errno.Ok, c.PunchHole(Chunk, 2 * Chunk));
        Assert.Equal(6L * Chunk, c.AllocatedBytes);
        Assert.Equal(Errno.Ok, c.Truncate(Chunk));
        Assert.Equal((long)Chunk, c.AllocatedBytes);
        Assert.Equal(Errno.Ok, c.Truncate(4 * Chunk));
        var grown = new byte[3 * Chunk];
        Assert.Equal(grown.Length, c.Read(Chunk, grown));
        Assert.All(grown, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Copy_between_stores_copies_data_and_keeps_holes_zero(bool srcInMemfd, bool dstInMemfd)
    {
        using var src = new FileContent(srcInMemfd ? 0 : long.MaxValue);
        using var dst = new FileContent(dstInMemfd ? 0 : long.MaxValue);
        var a = Pattern(Chunk + 100, 4);
        var b = Pattern(500, 5);
        Assert.Equal(Errno.Ok, src.Write(10, a));
        Assert.Equal(Errno.Ok, src.Write(5 * Chunk, b));
        Assert.Equal(Errno.Ok, dst.Write(0, Enumerable.Repeat((byte)0xEE, 7 * Chunk).ToArray())); // old data to overwrite
        Assert.Equal(srcInMemfd, src.InMemfd);
        Assert.Equal(dstInMemfd, dst.InMemfd);

        Assert.Equal(Errno.Ok, dst.CopyFrom(src, 0, 64, src.Size));

        var expected = Enumerable.Repeat((byte)0xEE, 7 * Chunk).ToArray();
        Array.Clear(expected, 64, (int)src.Size);
        a.CopyTo(expected, 64 + 10);
        b.CopyTo(expected, 64 + 5 * Chunk);
        Assert.Equal(expected, ReadAll(dst));
    }

    [Fact]
    public void In_a_memfd_an_overwrite_fits_in_no_free_space_and_an_extension_does_not()
    {
        using var c = new FileContent(0);
        Assert.Equal(Errno.Ok, c.Write(0, Pattern(4 * Chunk, 6)));
        Assert.True(c.Fits(Chunk, 2 * Chunk, available: 0));           // every page of the range is data already
        Assert.False(c.Fits(3 * Chunk, 2 * Chunk, available: 0));      // half of it is new
        Assert.True(c.Fits(3 * Chunk, 2 * Chunk, available: Chunk));   // exactly the new half
        Assert.Equal(Errno.Ok, c.PunchHole(0, Chunk));
        Assert.False(c.Fits(0, Chunk, available: Chunk - 4096));       // the punched hole needs its pages again
    }

    [Fact]
    public unsafe void A_write_to_a_memfd_that_fails_halfway_leaves_nothing_past_the_end_for_a_later_extension_to_show()
    {
        using var c = new FileContent(0);
        Assert.Equal(Errno.Ok, c.Write(0, Pattern(Chunk, 8)));
        Assert.True(c.InMemfd);
        // Two pages of which only the first is mapped: pwrite takes the first, then fails with EFAULT.
        byte* p = (byte*)Tmds.Linux.LibC.mmap(null, 8192, Tmds.Linux.LibC.PROT_READ | Tmds.Linux.LibC.PROT_WRITE,
            Tmds.Linux.LibC.MAP_PRIVATE | Tmds.Linux.LibC.MAP_ANONYMOUS, -1, 0);
        Assert.True(p != (byte*)-1);
        try
        {
            new Span<byte>(p, 4096).Fill(0x5A);
            Assert.Equal(0, Tmds.Linux.LibC.munmap(p + 4096, 4096));
            Assert.Equal(Errno.EFAULT, c.Write(Chunk, new ReadOnlySpan<byte>(p, 8192)));
        }
        finally { Tmds.Linux.LibC.munmap(p, 4096); }
        Assert.Equal(Chunk, c.Size);

        Assert.Equal(Errno.Ok, c.Truncate(Chunk + 8192));
        var tail = new byte[8192];
        Assert.Equal(8192, c.Read(Chunk, tail));
        Assert.All(tail, b => Assert.Equal(0, b)); // a grown file reads zeros, not the failed write's first page
    }

    [Fact]
    public unsafe void Dispose_closes_the_memfd()
    {
        var c = new FileContent(0);
        Assert.Equal(Errno.Ok, c.Write(0, [42]));
        int fd = c.MemfdDescriptor;
        Assert.True(fd >= 0);
        ulong ino = Descriptors.InodeOf(fd);
        Assert.NotEqual(0UL, ino);
        c.Dispose();
        // The descriptor is closed: gone, or (another test opened a file meanwhile) naming a different file.
        Assert.NotEqual(ino, Descriptors.InodeOf(fd));

    }
}
