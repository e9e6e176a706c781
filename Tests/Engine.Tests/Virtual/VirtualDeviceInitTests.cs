using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Unique ids, request headers, INIT gating and negotiation.</summary>
public sealed class VirtualDeviceInitTests : VirtualDeviceTestBase
{
    [Fact]
    public void First_request_is_INIT_with_unique_2_node_0_and_the_kernels_identity()
    {
        var (_, daemon) = Start(init: false);
        var init = daemon.Read();
        Assert.Equal(Opcode.Init, init.Opcode);
        Assert.Equal(2UL, init.Unique);
        Assert.Equal(0UL, init.NodeId);
        Assert.Equal(104u, init.Header.Len); // 40-byte header + 64-byte fuse_init_in
        Assert.Equal(0u, init.Header.Uid);
        Assert.Equal(0u, init.Header.Pid);
        var arg = init.Arg<FuseInitIn>();
        Assert.Equal(7u, arg.Major);
        Assert.Equal(45u, arg.Minor);
        Assert.Equal(0x73fffffbu, arg.Flags);
        Assert.Equal(0x5fdu, arg.Flags2);
    }

    [Fact]
    public void Unique_ids_are_even_step_by_two_and_are_never_zero()
    {
        var (d, daemon) = Start();
        var tasks = Enumerable.Range(0, 4).Select(_ => d.SendAsync(Rq.GetAttr(), Rq.Alice)).ToList();
        var ids = Enumerable.Range(0, 4).Select(_ => daemon.Read().Unique).ToList();
        Assert.Equal([4UL, 6UL, 8UL, 10UL], ids);
        Assert.All(ids, id => Assert.Equal(0UL, id & 1));
        foreach (var id in ids) daemon.ReplyAttr(id, 1, Posix.S_IFDIR | 0x1ED);
        Assert.All(tasks, t => Assert.True(t.Done().IsOk));
    }

    [Fact]
    public void Header_carries_the_callers_uid_gid_and_pid_and_the_exact_length()
    {
        var (d, daemon) = Start();
        _ = d.SendAsync(Rq.Lookup(1, "hello"), new FuseCaller(1234, 5678, 91011));
        var r = daemon.Read(Opcode.Lookup);
        Assert.Equal(1234u, r.Header.Uid);
        Assert.Equal(5678u, r.Header.Gid);
        Assert.Equal(91011u, r.Header.Pid);
        Assert.Equal(1UL, r.NodeId);
        Assert.Equal(46u, r.Header.Len); // 40 + "hello\0"
        Assert.Equal("hello", r.Name());
    }

    [Fact]
    public void Nothing_else_is_handed_to_the_reader_until_the_INIT_reply()
    {
        var (d, daemon) = Start(init: false);
        Assert.Equal(VirtualDeviceState.InitPending, d.State);
        var caller = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var release = d.SendBackground(Rq.Release(1, 9), Rq.Alice); // forced requests queue, but are not read either

        var init = daemon.Read(Opcode.Init);
        daemon.AssertNothingToRead();
        Assert.Equal(PollEvents.Out | PollEvents.WrNorm, d.Poll());
        Assert.False(caller.IsCompleted);
        Assert.Equal(1, d.WaitingForCredit); // the caller waits: INIT holds the only credit

        daemon.Reply(init.Unique, new FuseInitOut { Major = 7, Minor = 45, MaxWrite = 65536 });
        Assert.True(d.WhenInitialized.Done());
        var next = new[] { daemon.Read(), daemon.Read() };
        Assert.Contains(next, r => r.Opcode == Opcode.Release);
        Assert.Contains(next, r => r.Opcode == Opcode.GetAttr);
        foreach (var r in next)
            if (r.Opcode == Opcode.GetAttr) daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
            else daemon.ReplyEmpty(r.Unique);
        Assert.True(caller.Done().IsOk);
        Assert.True(release.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void INIT_reply_with_another_major_is_a_connection_error_and_callers_get_ECONNREFUSED()
    {
        var (d, daemon) = Start(init: false);
        var waiting = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var init = daemon.Read(Opcode.Init);
        Assert.Equal(80, daemon.Reply(init.Unique, new FuseInitOut { Major = 8, Minor = 45, MaxWrite = 65536 }));
        Assert.False(d.WhenInitialized.Done());
        Assert.Equal(VirtualDeviceState.ConnectionError, d.State);
        Assert.Equal(Errno.ECONNREFUSED, waiting.Done().Error);
        Assert.Equal(Errno.ECONNREFUSED, d.SendAsync(Rq.GetAttr(), Rq.Alice).Done().Error);
        daemon.AssertNothingToRead();
        Assert.Null(d.InitReply);
    }

    [Fact]
    public void INIT_error_reply_is_a_connection_error()
    {
        var (d, daemon) = Start(init: false);
        var init = daemon.Read(Opcode.Init);
        Assert.Equal(16, daemon.ReplyError(init.Unique, Errno.EPROTO));
        Assert.Equal(VirtualDeviceState.ConnectionError, d.State);
        Assert.Equal(Errno.ECONNREFUSED, d.SendAsync(Rq.GetAttr(), Rq.Alice).Done().Error);
        // A second INIT reply gets ENOENT.
        Assert.Equal(-(int)Errno.ENOENT, daemon.Reply(init.Unique, new FuseInitOut { Major = 7, Minor = 45 }));
    }

    [Fact]
    public void Short_INIT_reply_is_accepted_and_missing_fields_count_as_zero()
    {
        var (d, daemon) = Start(init: false);
        var init = daemon.Read(Opcode.Init);
        Assert.Equal(24, daemon.Reply(init.Unique, new byte[] { 7, 0, 0, 0, 22, 0, 0, 0 }));
        Assert.Equal(VirtualDeviceState.Initialized, d.State);
        Assert.Equal(22u, d.Minor);
        Assert.Equal(4096u, d.MaxWrite); // max_write 0 is clamped to 4096
        Assert.Equal(InitFlags.None, d.NegotiatedFlags);
    }

    [Fact]
    public void Max_write_follows_the_INIT_reply_and_sets_the_minimum_read_buffer()
    {
        var (d, daemon) = Start(init: false);
        Assert.Equal(8192, d.MinReadBufferSize);
        Assert.Equal(-(int)Errno.EINVAL, d.Read(new byte[8191], nonBlocking: true));
        var init = daemon.Read(Opcode.Init); // an 8192-byte buffer would do
        Assert.Equal(-(int)Errno.EAGAIN, d.Read(new byte[8192], nonBlocking: true));

        daemon.Reply(init.Unique, new FuseInitOut { Major = 7, Minor = 45, MaxWrite = 131072, Flags = (uint)(InitFlags.MaxPages | InitFlags.AbortError), MaxPages = 1000 });
        Assert.Equal(131072u, d.MaxWrite);
        Assert.Equal(131152, d.MinReadBufferSize);
        Assert.Equal(256, d.MaxPages); // clamped to max_pages_limit
        Assert.Equal(InitFlags.MaxPages | InitFlags.AbortError, d.NegotiatedFlags);
        Assert.Equal(-(int)Errno.EINVAL, d.Read(new byte[8192], nonBlocking: true));
        Assert.Equal(-(int)Errno.EINVAL, d.Read(new byte[131151], nonBlocking: true));
        Assert.Equal(-(int)Errno.EAGAIN, d.Read(new byte[131152], nonBlocking: true));
    }

    [Fact]
    public void Only_offered_flags_are_negotiated_and_flags2_needs_INIT_EXT()
    {
        var (d, daemon) = Start(init: false);
        var init = daemon.Read(Opcode.Init);
        daemon.Reply(init.Unique, new FuseInitOut
        {
            Major = 7, Minor = 45, MaxWrite = 65536,
            Flags = (uint)(InitFlags.AsyncRead | InitFlags.FileOps), // FILE_OPS is not offered
            Flags2 = 1u << (37 - 32), // PASSTHROUGH, ignored without INIT_EXT
        });
        Assert.Equal(InitFlags.AsyncRead, d.NegotiatedFlags);
    }
}
