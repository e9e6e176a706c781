using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// <see cref="RequestBufferPool"/>: a WRITE read where the pool says (the device reader reads every request there) has
/// its data on a page boundary, which lets an O_DIRECT host write take it without a copy; the rest of the request
/// parses as at a buffer's start; and buffers of another size are not taken back.
/// </summary>
public sealed class RequestBufferPoolTests
{
    private const int Page = 4096;

    [Fact]
    public unsafe void A_WRITE_read_at_the_pools_offset_has_its_data_on_a_page_boundary_and_parses_whole()
    {
        var pool = new RequestBufferPool(1024 * 1024 + Page, 8);
        var buffers = new byte[8][];
        for (int i = 0; i < buffers.Length; i++) buffers[i] = pool.Rent();   // eight arrays at once, at their own addresses
        foreach (var buffer in buffers)
        {
            int start = RequestBufferPool.ReadStart(buffer);
            var span = pool.ReadSpan(buffer, start);
            Assert.Equal(pool.BufferSize, span.Length);

            int payload = 3 * Page;
            int length = RequestBufferPool.WriteDataOffset + payload;
            span[..length].Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)length);
            BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)Opcode.Write);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], 0x77);                                   // unique
            BinaryPrimitives.WriteUInt64LittleEndian(span[(FuseConstants.InHeaderSize + 8)..], 8192);    // offset
            BinaryPrimitives.WriteUInt32LittleEndian(span[(FuseConstants.InHeaderSize + 16)..], (uint)payload);
            for (int i = 0; i < payload; i++) span[RequestBufferPool.WriteDataOffset + i] = (byte)(i * 7);

            var r = Assert.IsType<WriteRequest>(RequestFactory.Parse(buffer, start, length, new NegotiatedProtocol(), out bool took));
            Assert.True(took);
            Assert.Same(buffer, r.Buffer);
            Assert.Equal(0x77ul, r.Header.Unique);
            Assert.Equal(8192ul, r.Offset);
            Assert.Equal((uint)payload, r.Size);
            var data = r.Data.Span;
            for (int i = 0; i < payload; i++) Assert.Equal((byte)(i * 7), data[i]);
            nuint address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(data));
            Assert.Equal(0u, (uint)(address % Page));
        }
        foreach (var buffer in buffers) pool.Return(buffer);
    }

    [Fact]
    public void From_any_array_address_the_read_start_puts_a_WRITEs_data_on_a_page_and_the_read_inside_the_array()
    {
        // Arrays start 8-byte aligned; every such address within a page, plus a few pages on.
        const ulong first = 0x7f00_0000_0000;
        for (nuint address = (nuint)first; address < (nuint)(first + 3 * Page); address += 8)
        {
            int start = RequestBufferPool.ReadStart(address);
            Assert.InRange(start, 0, Page - 1);                                     // BufferSize from there fits the array
            Assert.Equal(0u, (uint)((address + (nuint)start + RequestBufferPool.WriteDataOffset) % Page));
        }
    }

    [Fact]
    public void A_returned_buffer_is_rented_again_and_one_of_another_size_is_not_taken()
    {
        var pool = new RequestBufferPool(64, 4);
        var first = pool.Rent();
        pool.Return(first);
        Assert.Same(first, pool.Rent());
        var foreign = new byte[64];
        pool.Return(foreign);
        Assert.NotSame(foreign, pool.Rent());
        var next = pool.Rent();
        Assert.Equal(64, pool.ReadSpan(next, RequestBufferPool.ReadStart(next)).Length);
    }
}
