using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>The daemon's writes: reply checks in the order of today's kernel (fuse-protocol.md §1.2).</summary>
public sealed class VirtualDeviceWriteTests : VirtualDeviceTestBase
{
    private static byte[] Header(uint len, int error, ulong unique) =>
        Wire.Bytes(new FuseOutHeader { Len = len, Error = error, Unique = unique });

    [Fact]
    public void Write_shorter_than_the_header_is_EINVAL()
    {
        var (d, daemon) = Start();
        Assert.Equal(-(int)Errno.EINVAL, daemon.Write(new byte[15]));
        Assert.Equal(-(int)Errno.EINVAL, daemon.Write(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Write_whose_header_len_differs_from_the_bytes_written_is_EINVAL_and_the_request_stays()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        var msg = new byte[120];
        Header(16, 0, r.Unique).CopyTo(msg, 0);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Write(msg));
        Assert.False(t.IsCompleted);
        Assert.Equal(120, daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED));
        Assert.True(t.Done().IsOk);
    }

    [Fact]
    public void Write_with_unique_0_is_never_a_reply_it_is_read_as_a_notification()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        // A GETATTR-shaped reply with unique 0: notify code 0 does not exist, so EINVAL, and no request is touched.
        var msg = new byte[120];
        Header(120, 0, 0).CopyTo(msg, 0);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Write(msg));
        Assert.False(t.IsCompleted);
        Assert.Equal(1, d.ProcessingCount);
        Assert.Equal(120, daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED));
        Assert.True(t.Done().IsOk);
    }

    [Fact]
    public void Write_gathers_head_and_payload_into_one_message()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        var whole = Wire.Build().Struct(new FuseOutHeader { Len = 120, Unique = r.Unique })
            .Struct(new FuseAttrOut { Attr = FakeDaemon.Attr(1, Posix.S_IFDIR | 0x1ED) }).ToArray();
        Assert.Equal(120, d.Write(whole.AsSpan(0, 10), whole.AsSpan(10))); // a header split across the two parts
        Assert.True(t.Done().IsOk);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-512)]
    [InlineData(-1000)]
    public void Write_with_an_error_outside_minus_512_to_0_is_EINVAL(int error)
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(r.Unique, ReadOnlySpan<byte>.Empty, error));
        Assert.False(t.IsCompleted); // nothing else disturbed: the request still waits for a good reply
        Assert.Equal(16, daemon.Reply(r.Unique, ReadOnlySpan<byte>.Empty, -511));
        Assert.Equal((Errno)511, t.Done().Error);
    }

    [Fact]
    public void Write_with_unique_unknown_or_already_answered_is_ENOENT()
    {
        var (d, daemon) = Start();
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyError(1234, Errno.EIO));
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyError(4, Errno.EIO)); // queued, but not read yet
        var r = daemon.Read(Opcode.GetAttr);
        Assert.Equal(16, daemon.ReplyError(r.Unique, Errno.EACCES));
        Assert.Equal(Errno.EACCES, t.Done().Error);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyError(r.Unique, Errno.EACCES)); // a second reply
        AssertQuiescent(d);
    }

    [Fact]
    public void Write_of_an_error_with_a_payload_is_EINVAL_and_the_caller_gets_EIO()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(r.Unique, new byte[104], -(int)Errno.ENOENT));
        Assert.Equal(Errno.EIO, t.Done().Error);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyError(r.Unique, Errno.ENOENT)); // the retry finds nothing
        AssertQuiescent(d);
    }

    [Theory]
    [InlineData(96)]
    [InlineData(112)]
    [InlineData(0)]
    public void Write_of_a_fixed_size_reply_with_another_size_is_EINVAL_and_the_caller_gets_EIO(int size)
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(r.Unique, new byte[size]));
        Assert.Equal(Errno.EIO, t.Done().Error);
        AssertQuiescent(d);
    }

    [Fact]
    public void Write_of_a_shorter_reply_is_accepted_where_the_operation_is_variable_length_but_never_a_longer_one()
    {
        var (d, daemon) = Start();
        var read = d.SendAsync(Rq.Read(1, 1, 100), Rq.Alice);
        var r = daemon.Read(Opcode.Read);
        Assert.Equal(16 + 40, daemon.Reply(r.Unique, new byte[40]));
        Assert.Equal(40, read.Done().Payload.Length);

        var tooLong = d.SendAsync(Rq.Read(1, 1, 100), Rq.Alice);
        r = daemon.Read(Opcode.Read);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(r.Unique, new byte[101]));
        Assert.Equal(Errno.EIO, tooLong.Done().Error);

        var link = d.SendAsync(new VirtualRequest(Opcode.ReadLink, 1), Rq.Alice);
        r = daemon.Read(Opcode.ReadLink);
        Assert.Equal(16 + 6, daemon.Reply(r.Unique, "target"u8));
        Assert.True(link.Done().IsOk);

        // GETXATTR: size 0 asks for the size (exactly 8 bytes), size > 0 for the value (at most size).
        var probe = d.SendAsync(new VirtualRequest(Opcode.GetXAttr, 1, Wire.Build().Struct(new FuseGetXAttrIn { Size = 0 }).Name("user.a").ToArray()), Rq.Alice);
        r = daemon.Read(Opcode.GetXAttr);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(r.Unique, new byte[4]));
        Assert.Equal(Errno.EIO, probe.Done().Error);
        var value = d.SendAsync(new VirtualRequest(Opcode.GetXAttr, 1, Wire.Build().Struct(new FuseGetXAttrIn { Size = 10 }).Name("user.a").ToArray()), Rq.Alice);
        r = daemon.Read(Opcode.GetXAttr);
        Assert.Equal(16 + 3, daemon.Reply(r.Unique, "abc"u8));
        Assert.Equal("abc"u8.ToArray(), value.Done().Payload.ToArray());
        AssertQuiescent(d);
    }

    [Fact]
    public void Bad_reply_disturbs_nothing_else()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 8);
        var a = d.SendAsync(Rq.GetAttr(8), Rq.Alice);
        var b = d.SendAsync(Rq.GetAttr(8), Rq.Alice);
        var ra = daemon.Read(Opcode.GetAttr);
        var rb = daemon.Read(Opcode.GetAttr);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(ra.Unique, new byte[3]));
        Assert.Equal(Errno.EIO, a.Done().Error);
        Assert.False(b.IsCompleted);
        Assert.Equal(1, d.ProcessingCount);
        Assert.Equal(120, daemon.ReplyAttr(rb.Unique, 8));
        Assert.True(b.Done().IsOk);
        Assert.Equal(1UL, d.GetLookupCount(8));
        AssertQuiescent(d);
    }

    [Fact]
    public void Attribute_reply_with_an_invalid_file_type_gives_the_caller_EIO()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        Assert.Equal(120, daemon.ReplyAttr(r.Unique, 1, mode: 0)); // the write succeeds ...
        Assert.Equal(Errno.EIO, t.Done().Error);              // ... but the kernel rejects mode 0
    }

    public static TheoryData<Opcode, int> FixedReplySizes => new()
    {
        { Opcode.Lookup, 128 }, { Opcode.MkDir, 128 }, { Opcode.MkNod, 128 }, { Opcode.Symlink, 128 }, { Opcode.Link, 128 },
        { Opcode.Create, 144 }, { Opcode.TmpFile, 144 }, { Opcode.GetAttr, 104 }, { Opcode.SetAttr, 104 },
        { Opcode.Open, 16 }, { Opcode.OpenDir, 16 }, { Opcode.Write, 8 }, { Opcode.StatFs, 80 }, { Opcode.Lseek, 8 },
        { Opcode.CopyFileRange, 8 }, { Opcode.CopyFileRange64, 8 }, { Opcode.Bmap, 8 }, { Opcode.Poll, 8 }, { Opcode.GetLk, 24 },
        { Opcode.Statx, 288 },
        { Opcode.Unlink, 0 }, { Opcode.RmDir, 0 }, { Opcode.Rename, 0 }, { Opcode.Rename2, 0 }, { Opcode.Release, 0 },
        { Opcode.ReleaseDir, 0 }, { Opcode.Fsync, 0 }, { Opcode.FsyncDir, 0 }, { Opcode.Flush, 0 }, { Opcode.SetXAttr, 0 },
        { Opcode.RemoveXAttr, 0 }, { Opcode.Access, 0 }, { Opcode.Fallocate, 0 }, { Opcode.SetLk, 0 }, { Opcode.SetLkW, 0 },
        { Opcode.SyncFs, 0 }, { Opcode.Destroy, 0 },
    };

    [Theory]
    [MemberData(nameof(FixedReplySizes))]
    public void Reply_size_table_fixed_sizes_match_the_kernel(Opcode op, int size)
    {
        var shape = Operations.ReplyShapeFor(op, new byte[64]);
        Assert.True(shape.ExpectsReply);
        Assert.False(shape.IsVariable);
        Assert.Equal(size, shape.FixedSize);
        Assert.True(shape.Accepts(size));
        Assert.False(shape.Accepts(size + 1));
        if (size > 0) Assert.False(shape.Accepts(size - 1));
    }

    [Fact]
    public void Reply_size_table_variable_and_no_reply_operations()
    {
        var read = Wire.Bytes(new FuseReadIn { Size = 4096 });
        foreach (var op in new[] { Opcode.Read, Opcode.ReadDir, Opcode.ReadDirPlus })
            Assert.Equal(ReplyShape.UpTo(4096), Operations.ReplyShapeFor(op, read));
        Assert.Equal(ReplyShape.UpTo(4095), Operations.ReplyShapeFor(Opcode.ReadLink, default));
        Assert.Equal(ReplyShape.UpTo(64), Operations.ReplyShapeFor(Opcode.Init, default));
        Assert.Equal(ReplyShape.Exactly(8), Operations.ReplyShapeFor(Opcode.GetXAttr, Wire.Bytes(new FuseGetXAttrIn { Size = 0 })));
        Assert.Equal(ReplyShape.UpTo(300), Operations.ReplyShapeFor(Opcode.ListXAttr, Wire.Bytes(new FuseGetXAttrIn { Size = 300 })));
        Assert.Equal(ReplyShape.FixedThenUpTo(16, 32), Operations.ReplyShapeFor(Opcode.Ioctl, Wire.Bytes(new FuseIoctlIn { OutSize = 32 })));
        foreach (var op in new[] { Opcode.Forget, Opcode.BatchForget, Opcode.Interrupt, Opcode.NotifyReply })
            Assert.False(Operations.ReplyShapeFor(op, default).ExpectsReply);
    }
}
