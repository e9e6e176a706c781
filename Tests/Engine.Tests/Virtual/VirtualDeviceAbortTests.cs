using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Release and abort of the connection, and cloned queues.</summary>
public sealed class VirtualDeviceAbortTests : VirtualDeviceTestBase
{
    [Fact]
    public void Abort_ends_every_pending_and_processing_request_with_ECONNABORTED_and_releases_background_references()
    {
        var (d, daemon) = Start(maxOutstanding: 4);
        LookupNode(d, daemon, 70);
        LookupNode(d, daemon, 71, "g");
        var processing = d.SendAsync(Rq.GetAttr(70), Rq.Alice);
        using var cts = new CancellationTokenSource();
        var backgrounded = d.SendAsync(Rq.GetAttr(71), Rq.Alice, cts.Token);
        daemon.Read(Opcode.GetAttr);
        daemon.Read(Opcode.GetAttr);
        cts.Cancel();
        var release = d.SendBackground(Rq.Release(70, 3), Rq.Alice);
        var pending = d.SendAsync(Rq.Lookup(1, "p"), Rq.Alice);
        var waiting = d.SendAsync(Rq.Lookup(1, "w"), Rq.Alice); // no credit left
        d.Forget(71); // deferred: the backgrounded request still holds 71
        Assert.Equal(1, d.WaitingForCredit);
        Assert.Equal(2, d.Stats().BackgroundReferences);

        d.Abort();
        Assert.Equal(VirtualDeviceState.Disconnected, d.State);
        Assert.Equal(Errno.ECONNABORTED, processing.Done().Error);
        Assert.Equal(Errno.EINTR, backgrounded.Done().Error);
        Assert.Equal(Errno.ECONNABORTED, release.Done().Error);
        Assert.Equal(Errno.ECONNABORTED, pending.Done().Error);
        Assert.Equal(Errno.ENOTCONN, waiting.Done().Error);
        var s = d.Stats();
        Assert.Equal(0, s.Background);
        Assert.Equal(0, s.BackgroundReferences);
        Assert.Equal(0, s.NodeReferences);
        Assert.Equal(0, s.ForgetsQueued); // no FORGETs at unmount
        Assert.Equal(4, s.Credit);
        Assert.Equal(0, s.Debt);
    }

    [Fact]
    public void After_abort_callers_get_ENOTCONN_the_reader_ENODEV_writes_ENOENT_and_poll_POLLERR()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        d.Abort();
        Assert.Equal(Errno.ECONNABORTED, t.Done().Error);
        Assert.Equal(Errno.ENOTCONN, d.SendAsync(Rq.GetAttr(), Rq.Alice).Done().Error);
        Assert.Equal(Errno.ENOTCONN, d.SendBackground(Rq.Release(1, 1), Rq.Alice).Done().Error);
        Assert.False(d.SendNoReply(new VirtualRequest(Opcode.Forget, 1, new byte[8], ReplyShape.None), Rq.Alice));
        Assert.Equal(-(int)Errno.ENODEV, daemon.ReadNonBlocking());
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED));
        Assert.Equal(-(int)Errno.ENOENT, daemon.Notify(NotifyCode.InvalInode, new byte[24]));
        Assert.Equal(PollEvents.Err, d.Poll());
        d.Forget(1234); // ignored
    }

    [Fact]
    public void Abort_with_ABORT_ERROR_negotiated_makes_the_reader_get_ECONNABORTED()
    {
        var (d, daemon) = Start(flags: InitFlags.AbortError);
        d.Abort();
        Assert.Equal(-(int)Errno.ECONNABORTED, daemon.ReadNonBlocking());
    }

    [Fact]
    public async Task Abort_wakes_a_blocked_reader_with_ENODEV()
    {
        var (d, _) = Start();
        var reader = Task.Factory.StartNew(() => d.Read(new byte[1 << 17]), TaskCreationOptions.LongRunning);
        var asyncReader = d.ReadAsync(new byte[1 << 17]).AsTask();
        d.Abort();
        Assert.Equal(-(int)Errno.ENODEV, await reader.Within());
        Assert.Equal(-(int)Errno.ENODEV, await asyncReader.Within());
    }

    [Fact]
    public void Abort_while_a_request_is_being_copied_ends_it_with_ECONNABORTED()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        d.DuringCopy = _ => d.Abort();
        Assert.Equal(-(int)Errno.ENODEV, daemon.ReadNonBlocking());
        Assert.Equal(Errno.ECONNABORTED, t.Done().Error);
        Assert.Equal(10, d.Credit);
    }

    [Fact]
    public void Abort_before_the_INIT_reply_fails_waiting_callers_with_ENOTCONN()
    {
        var (d, daemon) = Start(init: false);
        var waiting = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        daemon.Read(Opcode.Init);
        d.Abort();
        Assert.Equal(Errno.ENOTCONN, waiting.Done().Error);
        Assert.False(d.WhenInitialized.Done());
    }

    [Fact]
    public void Dispose_closes_the_device_like_the_last_close_of_dev_fuse()
    {
        var d = new VirtualDevice();
        var daemon = new FakeDaemon(d);
        daemon.Init();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read(Opcode.GetAttr);
        d.Dispose();
        Assert.Equal(Errno.ECONNABORTED, t.Done().Error);
        Assert.Equal(Errno.ENOTCONN, d.SendAsync(Rq.GetAttr(), Rq.Alice).Done().Error);
        Assert.Equal(-(int)Errno.ENODEV, daemon.ReadNonBlocking());
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED));
        d.Dispose(); // idempotent
    }

    [Fact]
    public void Clone_shares_the_input_queue_and_replies_must_go_to_the_queue_that_read_the_request()
    {
        var (d, daemon) = Start();
        using var clone = (VirtualDeviceClone)d.Clone();
        var other = new FakeDaemon(clone);
        var a = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var b = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        Assert.True((clone.Poll() & PollEvents.In) != 0);
        var ra = other.Read(Opcode.GetAttr); // read on the clone
        var rb = daemon.Read(Opcode.GetAttr);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyAttr(ra.Unique, 1, Posix.S_IFDIR | 0x1ED)); // wrong queue
        Assert.Equal(120, other.ReplyAttr(ra.Unique, 1, Posix.S_IFDIR | 0x1ED));
        Assert.Equal(120, daemon.ReplyAttr(rb.Unique, 1, Posix.S_IFDIR | 0x1ED));
        Assert.True(a.Done().IsOk && b.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void Closing_a_clone_ends_only_its_requests_and_closing_the_last_queue_aborts()
    {
        var (d, daemon) = Start();
        var clone = (VirtualDeviceClone)d.Clone();
        var other = new FakeDaemon(clone);
        var onClone = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var onMain = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        other.Read(Opcode.GetAttr);
        var rm = daemon.Read(Opcode.GetAttr);
        clone.Dispose();
        Assert.Equal(Errno.ECONNABORTED, onClone.Done().Error);
        Assert.False(onMain.IsCompleted);
        Assert.Equal(VirtualDeviceState.Initialized, d.State);
        Assert.Equal(-(int)Errno.ENODEV, other.ReadNonBlocking());
        daemon.ReplyAttr(rm.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(onMain.Done().IsOk);

        d.Dispose(); // the last queue
        Assert.Equal(VirtualDeviceState.Disconnected, d.State);
    }
}
