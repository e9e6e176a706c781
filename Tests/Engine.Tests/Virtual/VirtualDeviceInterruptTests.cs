using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Interruption: a caller's cancellation is its signal.</summary>
public sealed class VirtualDeviceInterruptTests : VirtualDeviceTestBase
{
    [Fact]
    public void Interrupt_of_an_unsent_request_dequeues_it_the_caller_gets_EINTR_and_the_daemon_never_sees_it()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        var victim = d.SendAsync(Rq.Lookup(1, "victim"), Rq.Alice, cts.Token);
        var other = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        Assert.Equal(2, d.PendingCount);
        cts.Cancel();
        Assert.Equal(Errno.EINTR, victim.Done().Error);
        Assert.Equal(1, d.PendingCount);

        var r = daemon.Read();
        Assert.Equal(Opcode.GetAttr, r.Opcode);
        Assert.Equal(6UL, r.Unique); // the victim consumed id 4: ids are not dense
        daemon.AssertNothingToRead(); // no INTERRUPT for a request that was never sent
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyEntry(4, 3));
        daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(other.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void Signal_at_the_moment_before_hand_out_dequeues_the_request_and_the_reader_gets_the_next_one()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        var victim = d.SendAsync(Rq.Lookup(1, "victim"), Rq.Alice, cts.Token);
        var other = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var announced = new List<Opcode>();
        d.BeforeHandOut = info =>
        {
            announced.Add(info.Opcode);
            if (info.Opcode == Opcode.Lookup)
            {
                Assert.Equal(2, d.PendingCount); // still queued: the daemon has not seen it
                cts.Cancel();
            }
        };

        var r = daemon.Read();
        d.BeforeHandOut = null;
        Assert.Equal(Opcode.GetAttr, r.Opcode);
        Assert.Equal([Opcode.Lookup, Opcode.GetAttr], announced); // each request announced once
        Assert.Equal(Errno.EINTR, victim.Done().Error);
        daemon.AssertNothingToRead(); // never sent, so no INTERRUPT
        daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(other.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public async Task Signal_while_the_caller_is_still_in_SendAsync_is_never_lost_to_a_fast_reply()
    {
        // A daemon on its own thread answers at once; the caller is signalled the moment its request is about to be
        // read, which may be before SendAsync has returned. The signal must win every time.
        var (d, daemon) = Start();
        var serving = Task.Factory.StartNew(() =>
        {
            while (daemon.TryReadBlocking() is { } r)
                if (r.Opcode == Opcode.GetAttr) daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        }, TaskCreationOptions.LongRunning);

        for (int i = 0; i < 300; i++)
        {
            using var cts = new CancellationTokenSource();
            d.BeforeHandOut = _ => cts.Cancel();
            var reply = await d.SendAsync(Rq.GetAttr(), Rq.Alice, cts.Token).Within();
            Assert.Equal(Errno.EINTR, reply.Error);
        }
        d.BeforeHandOut = null;
        AssertQuiescent(d);
        d.Dispose();
        await serving.Within();
    }

    [Fact]
    public void Caller_already_cancelled_is_not_sent_at_all()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.GetAttr(), Rq.Alice, new CancellationToken(true));
        Assert.Equal(Errno.EINTR, t.Done().Error);
        daemon.AssertNothingToRead();
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_of_a_sent_request_backgrounds_it_returns_EINTR_at_once_queues_INTERRUPT_and_holds_references_until_the_late_reply()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 40);
        using var cts = new CancellationTokenSource();
        var victim = d.SendAsync(Rq.GetAttr(40), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.GetAttr);
        var later = d.SendAsync(Rq.GetAttr(), Rq.Alice); // queued before the interrupt

        cts.Cancel();
        var eintr = victim.Done();
        Assert.Equal(Errno.EINTR, eintr.Error);
        Assert.Equal(1, d.BackgroundCount);
        Assert.Equal(1, d.GetNodeReferences(40));
        Assert.Equal(1, d.Stats().BackgroundReferences);
        Assert.Equal(8, d.Credit); // the backgrounded request still holds its credit (and `later` one)

        var intr = daemon.Read(); // interrupts are read before anything else
        Assert.Equal(Opcode.Interrupt, intr.Opcode);
        Assert.Equal(sent.Unique | 1, intr.Unique);
        Assert.Equal(48u, intr.Header.Len);
        Assert.Equal(0UL, intr.NodeId);
        Assert.Equal(0u, intr.Header.Pid);
        Assert.Equal(sent.Unique, intr.Arg<FuseInterruptIn>().Unique);

        var l = daemon.Read(Opcode.GetAttr);
        daemon.ReplyAttr(l.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(later.Done().IsOk);

        // The late reply is accepted and dropped; the references and the credit are released with it.
        Assert.Equal(120, daemon.ReplyAttr(sent.Unique, 40));
        Assert.Equal(0, d.GetNodeReferences(40));
        Assert.Equal(0, d.BackgroundCount);
        Assert.Equal(Errno.EINTR, victim.Done().Error);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyAttr(sent.Unique, 40)); // answered once only
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_arriving_while_the_request_is_copied_is_not_torn_the_request_is_sent_then_interrupted()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        var victim = d.SendAsync(Rq.Lookup(1, "copying"), Rq.Alice, cts.Token);
        bool completedDuringCopy = true;
        VirtualDeviceStats during = default;
        d.DuringCopy = info =>
        {
            Assert.Equal(Opcode.Lookup, info.Opcode);
            cts.Cancel(); // the signal arrives in the middle of the copy
            completedDuringCopy = victim.IsCompleted;
            during = d.Stats();
        };
        var r = daemon.Read();
        d.DuringCopy = null;

        Assert.False(completedDuringCopy); // the caller waited for the copy to finish
        Assert.Equal(1, during.Copying);
        Assert.Equal(Opcode.Lookup, r.Opcode); // the reader got the whole request
        Assert.Equal("copying", r.Name());
        Assert.Equal(Errno.EINTR, victim.Done().Error);
        var intr = daemon.Read(Opcode.Interrupt); // it counts as sent: an INTERRUPT follows
        Assert.Equal(r.Unique, intr.Arg<FuseInterruptIn>().Unique);
        Assert.Equal(1, d.BackgroundCount);
        daemon.ReplyError(r.Unique, Errno.EINTR);
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_reply_EAGAIN_queues_the_INTERRUPT_again()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.GetAttr);
        cts.Cancel();
        var i1 = daemon.Read(Opcode.Interrupt);
        daemon.AssertNothingToRead();
        Assert.Equal(16, daemon.ReplyError(i1.Unique, Errno.EAGAIN));
        var i2 = daemon.Read(Opcode.Interrupt);
        Assert.Equal(i1.Unique, i2.Unique);
        Assert.Equal(16, daemon.ReplyError(i2.Unique, Errno.EIO)); // other errors are ignored
        daemon.AssertNothingToRead();
        daemon.ReplyError(sent.Unique, Errno.EINTR);
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_reply_ENOSYS_means_no_INTERRUPT_is_ever_sent_again()
    {
        var (d, daemon) = Start();
        using var cts1 = new CancellationTokenSource();
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice, cts1.Token);
        var s1 = daemon.Read(Opcode.GetAttr);
        cts1.Cancel();
        var i1 = daemon.Read(Opcode.Interrupt);
        daemon.ReplyError(i1.Unique, Errno.ENOSYS);
        Assert.True(d.InterruptsDisabled);

        using var cts2 = new CancellationTokenSource();
        var second = d.SendAsync(Rq.GetAttr(), Rq.Alice, cts2.Token);
        var s2 = daemon.Read(Opcode.GetAttr);
        cts2.Cancel();
        Assert.Equal(Errno.EINTR, second.Done().Error); // still backgrounded, but no INTERRUPT
        daemon.AssertNothingToRead();
        daemon.ReplyError(s1.Unique, Errno.EINTR);
        daemon.ReplyAttr(s2.Unique, 1, Posix.S_IFDIR | 0x1ED);
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_reply_must_be_header_only_and_needs_a_live_target()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.GetAttr);
        cts.Cancel();
        var i = daemon.Read(Opcode.Interrupt);
        Assert.Equal(-(int)Errno.EINVAL, daemon.Reply(i.Unique, new byte[8], -(int)Errno.EAGAIN));
        daemon.ReplyError(sent.Unique, Errno.EINTR);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyError(i.Unique, Errno.EAGAIN)); // target already answered
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupt_still_queued_when_its_target_is_answered_is_dropped()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.GetAttr);
        cts.Cancel();
        Assert.Equal(1, d.Stats().InterruptsQueued);
        daemon.ReplyAttr(sent.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.Equal(0, d.Stats().InterruptsQueued);
        daemon.AssertNothingToRead();
        AssertQuiescent(d);
    }

    [Fact]
    public void Forget_of_a_node_held_by_an_interrupted_request_waits_for_the_late_reply()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 50);
        using var cts = new CancellationTokenSource();
        _ = d.SendAsync(Rq.GetAttr(50), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.GetAttr);
        cts.Cancel();
        daemon.Read(Opcode.Interrupt);

        d.Forget(50); // the caller is gone and drops the node, but the filesystem is still working on it
        daemon.AssertNothingToRead();
        Assert.Equal(1UL, d.GetDeferredForgets(50));
        daemon.ReplyAttr(sent.Unique, 50);
        var f = daemon.Read(Opcode.Forget);
        Assert.Equal(50UL, f.NodeId);
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupted_LOOKUP_whose_late_reply_hands_out_a_node_gives_that_lookup_back()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        _ = d.SendAsync(Rq.Lookup(1, "slow"), Rq.Alice, cts.Token);
        var sent = daemon.Read(Opcode.Lookup);
        cts.Cancel();
        daemon.Read(Opcode.Interrupt);
        daemon.ReplyEntry(sent.Unique, 60);
        var f = daemon.Read(Opcode.Forget);
        Assert.Equal((60UL, 1UL), (f.NodeId, f.Arg<FuseForgetIn>().NLookup));
        Assert.Equal(0UL, d.GetLookupCount(60));
        AssertQuiescent(d);
    }

    [Fact]
    public async Task VfsClient_cancellation_interrupts_like_a_signal()
    {
        var (d, daemon) = Start();
        var client = new VfsClient(d);
        using var cts = new CancellationTokenSource();
        var t = client.StatFsAsync(cancellationToken: cts.Token);
        var r = daemon.Read(Opcode.StatFs);
        await cts.CancelAsync();
        var ex = await Assert.ThrowsAsync<FuseErrnoException>(() => t.Within());
        Assert.True(ex.IsInterrupted);
        Assert.Equal(Opcode.StatFs, ex.Opcode);
        daemon.Read(Opcode.Interrupt);
        daemon.Reply(r.Unique, new FuseStatFsOut());
        AssertQuiescent(d);
    }
}
