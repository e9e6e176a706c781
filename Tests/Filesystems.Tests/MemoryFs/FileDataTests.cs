using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

public class FileDataTests
{
    private const int Chunk = FileData.ChunkSize;

    private static byte[] ReadAll(FileData d, long offset, int length)
    {
        var b = new byte[length];
        int n = d.Read(offset, b);
        return b.AsSpan(0, n).ToArray();
    }

    [Fact]
    public void Holes_read_as_zeros_and_size_is_independent_of_chunks()
    {
        var d = new FileData();
        d.Write(10 * Chunk + 5, [1, 2, 3]);
        Assert.Equal(10L * Chunk + 8, d.Size);
        Assert.Equal(1, d.ChunkCount);
        var head = ReadAll(d, 0, 3 * Chunk);
        Assert.All(head, b => Assert.Equal(0, b));
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, ReadAll(d, 10 * Chunk + 4, 100));
    }

    [Fact]
    public void Read_at_or_past_end_is_short_or_empty()
    {
        var d = new FileData();
        d.Write(0, new byte[100]);
        Assert.Equal(40, d.Read(60, new byte[4096]));
        Assert.Equal(0, d.Read(100, new byte[10]));
        Assert.Equal(0, d.Read(1 << 20, new byte[10]));
    }

    [Fact]
    public void Small_files_use_small_arrays_that_grow_to_a_full_chunk()
    {
        var d = new FileData();
        d.Write(0, new byte[100]);
        Assert.Equal(FileData.MinArray, d.AllocatedBytes);
        Assert.Equal(8192 - FileData.MinArray, d.GrowthFor(5000, 100)); // 4 KiB array doubles to 8 KiB
        d.Write(5000, [9]);
        Assert.Equal(8192, d.AllocatedBytes);
        d.Write(Chunk - 1, [7]);
        Assert.Equal(Chunk, d.AllocatedBytes);
        Assert.Equal(9, ReadAll(d, 5000, 1)[0]);
    }

    [Fact]
    public void Write_at_three_GiB_allocates_one_chunk()
    {
        var d = new FileData();
        long at = 3L << 30;
        d.Write(at, [42]);
        Assert.Equal(at + 1, d.Size);
        Assert.Equal(1, d.ChunkCount);
        Assert.Equal(42, ReadAll(d, at, 1)[0]);
        Assert.All(ReadAll(d, at - 4096, 4096), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Shrinking_zeroes_the_tail_so_growing_again_reads_zeros()
    {
        var d = new FileData();
        d.Write(0, Enumerable.Repeat((byte)0xAB, 3 * Chunk).ToArray());
        d.Truncate(Chunk + 10);
        Assert.Equal(2, d.ChunkCount);
        d.Truncate(3 * Chunk);
        Assert.Equal(2, d.ChunkCount); // growing is sparse
        var back = ReadAll(d, 0, 3 * Chunk);
        Assert.All(back.AsSpan(0, Chunk + 10).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.All(back.AsSpan(Chunk + 10).ToArray(), b => Assert.Equal(0, b));
        d.Truncate(0);
        Assert.Equal(0, d.ChunkCount);
        Assert.Equal(0, d.AllocatedBytes);
    }

    [Fact]
    public void Punch_hole_frees_whole_chunks_and_zeroes_partial_ones()
    {
        var d = new FileData();
        d.Write(0, Enumerable.Repeat((byte)1, 4 * Chunk).ToArray());
        d.PunchHole(Chunk / 2, 2 * Chunk); // half of chunk 0, all of chunk 1, half of chunk 2
        Assert.Equal(4L * Chunk, d.Size);
        Assert.False(d.HasChunk(1));
        Assert.True(d.HasChunk(0) && d.HasChunk(2) && d.HasChunk(3));
        var back = ReadAll(d, 0, 4 * Chunk);
        for (int i = 0; i < back.Length; i++)
            Assert.Equal(i >= Chunk / 2 && i < Chunk / 2 + 2 * Chunk ? 0 : 1, back[i]);
    }

    [Fact]
    public void Seek_data_and_hole_work_on_chunk_granularity()
    {
        var d = new FileData();
        d.Write(2 * Chunk + 7, [1]);
        d.Truncate(10L * Chunk);
        Assert.Equal(2L * Chunk, d.SeekData(0));
        Assert.Equal(2L * Chunk + 100, d.SeekData(2 * Chunk + 100));
        Assert.Equal(-1, d.SeekData(3 * Chunk));
        Assert.Equal(0, d.SeekHole(0));
        Assert.Equal(3L * Chunk, d.SeekHole(2 * Chunk + 1));
    }

    [Fact]
    public void Seek_data_in_a_huge_sparse_file_scans_the_chunks_not_the_range()
    {
        var d = new FileData();
        long far = 1L << 45; // 32 TiB: probing every chunk index would take ages
        d.Write(far, [1]);
        Assert.Equal(far, d.SeekData(0));
    }

    [Fact]
    public void Copy_keeps_holes_and_overwrites_destination_data_with_zeros()
    {
        var src = new FileData();
        src.Write(0, Enumerable.Repeat((byte)5, 100).ToArray());
        src.Write(3 * Chunk, Enumerable.Repeat((byte)6, 100).ToArray());
        var dst = new FileData();
        dst.Write(0, Enumerable.Repeat((byte)9, 4 * Chunk).ToArray());
        dst.CopyFrom(src, 0, 0, src.Size);
        Assert.False(dst.HasChunk(1));
        Assert.False(dst.HasChunk(2));
        var back = ReadAll(dst, 0, 4 * Chunk);
        for (int i = 0; i < back.Length; i++)
        {
            int expected = i < 100 ? 5 : i >= 3 * Chunk && i < 3 * Chunk + 100 ? 6 : i < 3 * Chunk + 100 ? 0 : 9;
            Assert.Equal(expected, back[i]);
        }
    }

    /// <summary>Random operations against a plain byte array; also checks that GrowthFor predicts allocation exactly.</summary>
    [Fact]
    public void Random_operations_match_a_flat_array_model()
    {
        const int space = 6 * Chunk;
        var rng = new Random(1234);
        var d = new FileData();
        var model = new byte[space + Chunk];
        long size = 0;
        for (int step = 0; step < 3000; step++)
        {
            int op = rng.Next(10);
            int off = rng.Next(space);
            int len = rng.Next(1, Math.Min(space - off, 3 * Chunk) + 1);
            switch (op)
            {
                case < 5:
                    var data = new byte[Math.Min(len, 20000)];
                    rng.NextBytes(data);
                    long before = d.AllocatedBytes;
                    long predicted = d.GrowthFor(off, data.Length);
                    d.Write(off, data);
                    Assert.Equal(before + predicted, d.AllocatedBytes);
                    data.CopyTo(model, off);
                    size = Math.Max(size, off + data.Length);
                    break;
                case < 7:
                    d.Truncate(off);
                    if (off < size) Array.Clear(model, off, (int)(size - off));
                    size = off;
                    break;
                case < 9:
                    d.PunchHole(off, len);
                    Array.Clear(model, off, len);
                    break;
                default:
                    long before2 = d.AllocatedBytes;
                    long predicted2 = d.GrowthFor(off, len);
                    d.Allocate(off, len, keepSize: rng.Next(2) == 0);
                    Assert.Equal(before2 + predicted2, d.AllocatedBytes);
                    size = d.Size;
                    break;
            }
            Assert.Equal(size, d.Size);
            if (step % 50 == 0 || step == 2999)
                Assert.True(model.AsSpan(0, (int)size).SequenceEqual(ReadAll(d, 0, space)));
        }
    }
}
