using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Credit (FUSE_MAX_OUTSTANDING), debt, and the three ways to send.</summary>
public sealed class VirtualDeviceCreditTests : VirtualDeviceTestBase
{
    [Fact]
    public void Credit_defaults_to_the_seeds_ten_and_is_all_free_after_INIT()
    {
        var (d, _) = Start();
        Assert.Equal(10, d.MaxOutstanding);
        Assert.Equal(10, d.Credit);
        Assert.Equal(0, d.Debt);
        AssertQuiescent(d);
    }

    [Fact]
    public void Credit_at_most_N_requests_outstanding_and_callers_beyond_wait()
    {
        var (d, daemon) = Start(maxOutstanding: 3);
        var callers = Enumerable.Range(0, 5).Select(_ => d.SendAsync(Rq.GetAttr(), Rq.Alice)).ToList();
        Assert.Equal(0, d.Credit);
        Assert.Equal(2, d.WaitingForCredit);

        var first = new[] { daemon.Read(), daemon.Read(), daemon.Read() };
        daemon.AssertNothingToRead(); // the other two have no credit: not even queued
        Assert.Equal([4UL, 6UL, 8UL], first.Select(r => r.Unique));

        daemon.ReplyAttr(first[1].Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(callers[1].Done().IsOk);
        Assert.Equal(1, d.WaitingForCredit);
        var fourth = daemon.Read(Opcode.GetAttr); // the credit went to the first waiter, who got the next id
        Assert.Equal(10UL, fourth.Unique);
        daemon.AssertNothingToRead();

        foreach (var u in new[] { first[0].Unique, first[2].Unique, fourth.Unique })
            daemon.ReplyAttr(u, 1, Posix.S_IFDIR | 0x1ED);
        var fifth = daemon.Read(Opcode.GetAttr);
        daemon.ReplyAttr(fifth.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.All(callers, c => Assert.True(c.Done().IsOk));
        AssertQuiescent(d);
    }

    [Fact]
    public void Caller_waiting_for_credit_when_interrupted_gets_EINTR_and_is_never_sent()
    {
        var (d, daemon) = Start(maxOutstanding: 1);
        var holder = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        using var cts = new CancellationTokenSource();
        var waiter = d.SendAsync(Rq.Lookup(1, "w"), Rq.Alice, cts.Token);
        Assert.Equal(1, d.WaitingForCredit);
        cts.Cancel();
        Assert.Equal(Errno.EINTR, waiter.Done().Error);
        Assert.Equal(0, d.WaitingForCredit);

        var r = daemon.Read(Opcode.GetAttr);
        daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        daemon.AssertNothingToRead();
        Assert.True(holder.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void Forget_never_blocks_on_credit_it_runs_on_debt_repaid_before_credit_is_given_back()
    {
        var (d, daemon) = Start(maxOutstanding: 2);
        LookupNode(d, daemon, 7);
        var a = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var b = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var ra = daemon.Read(Opcode.GetAttr);
        var rb = daemon.Read(Opcode.GetAttr);
        Assert.Equal(0, d.Credit);

        d.Forget(7, 1); // no credit left: it goes into debt instead of waiting
        Assert.Equal(1, d.Debt);
        Assert.Equal(1, d.Stats().ForgetsQueued);

        daemon.ReplyAttr(ra.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.Equal(0, d.Debt);  // the returned credit repaid the debt ...
        Assert.Equal(0, d.Credit); // ... instead of becoming free

        var forget = daemon.Read(Opcode.Forget); // reading the forget finishes it: its credit comes back
        Assert.Equal(7UL, forget.NodeId);
        Assert.Equal(1, d.Credit);
        daemon.ReplyAttr(rb.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(a.Done().IsOk && b.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void Background_RELEASE_never_blocks_on_credit_it_runs_on_debt()
    {
        var (d, daemon) = Start(maxOutstanding: 1);
        var holder = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var release = d.SendBackground(Rq.Release(1, 42), Rq.Alice);
        Assert.Equal(1, d.Debt);
        Assert.Equal(0, d.WaitingForCredit);

        var r1 = daemon.Read(Opcode.GetAttr);
        var rel = daemon.Read(Opcode.Release);
        Assert.Equal(42UL, rel.Arg<FuseReleaseIn>().Fh);
        daemon.ReplyEmpty(rel.Unique);
        Assert.True(release.Done().IsOk);
        Assert.Equal(0, d.Debt);
        Assert.Equal(0, d.Credit);
        daemon.ReplyAttr(r1.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(holder.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public async Task Send_and_wait_gets_the_reply_payload()
    {
        var (d, daemon) = Start();
        var t = d.SendAsync(Rq.Lookup(1, "x"), Rq.Alice);
        var r = daemon.Read(Opcode.Lookup);
        Assert.False(t.IsCompleted);
        Assert.Equal(144, daemon.ReplyEntry(r.Unique, 5, Posix.S_IFDIR | 0x1ED));
        var reply = await t.Within();
        Assert.True(reply.IsOk);
        Assert.Equal(r.Unique, reply.Unique);
        Assert.Equal(5UL, reply.Read<FuseEntryOut>().NodeId);
        AssertQuiescent(d);
    }

    [Fact]
    public void No_reply_request_is_finished_when_read_and_a_reply_to_it_gets_ENOENT()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 9);
        d.Forget(9);
        var f = daemon.Read(Opcode.Forget);
        Assert.Equal(48u, f.Header.Len);
        Assert.Equal(1UL, f.Arg<FuseForgetIn>().NLookup);
        Assert.Equal(0UL, f.Unique & 1);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyEmpty(f.Unique));
        Assert.Equal(0UL, d.GetLookupCount(9));

        // The generic no-reply path (request_send_noreply) behaves the same way.
        Assert.True(d.SendNoReply(new VirtualRequest(Opcode.Forget, 1, Wire.Bytes(new FuseForgetIn { NLookup = 1 }), ReplyShape.None), Rq.Alice));
        var raw = daemon.Read(Opcode.Forget);
        Assert.Equal(Rq.Alice.Uid, raw.Header.Uid);
        Assert.Equal(-(int)Errno.ENOENT, daemon.ReplyEmpty(raw.Unique));
        AssertQuiescent(d);
    }

    [Fact]
    public void Several_queued_forgets_are_read_as_one_BATCH_FORGET_a_single_one_as_FORGET()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 11, "a");
        LookupNode(d, daemon, 12, "b");
        LookupNode(d, daemon, 12, "b2");
        LookupNode(d, daemon, 13, "c");
        d.Forget(11);
        d.Forget(12, 2);
        d.Forget(13);
        var batch = daemon.Read(Opcode.BatchForget);
        Assert.Equal(0UL, batch.NodeId);
        Assert.Equal(48u + 3 * 16, batch.Header.Len);
        Assert.Equal(3u, batch.Arg<FuseBatchForgetIn>().Count);
        var entries = Enumerable.Range(0, 3).Select(i => batch.Arg<FuseForgetOne>(8 + 16 * i)).ToList();
        Assert.Equal([(11UL, 1UL), (12UL, 2UL), (13UL, 1UL)], entries.Select(e => (e.NodeId, e.NLookup)));
        daemon.AssertNothingToRead();
        AssertQuiescent(d);
    }

    [Fact]
    public void Background_request_holds_its_node_references_until_the_reply()
    {
        var (d, daemon) = Start();
        LookupNode(d, daemon, 20);
        var rel = d.SendBackground(Rq.Release(20, 1), Rq.Alice);
        Assert.Equal(1, d.GetNodeReferences(20));
        Assert.Equal(1, d.BackgroundCount);
        d.Forget(20); // the node is still referenced: the FORGET waits for the RELEASE to finish
        Assert.Equal(1UL, d.GetDeferredForgets(20));

        var r = daemon.Read(Opcode.Release);
        daemon.AssertNothingToRead();
        Assert.Equal(1, d.Stats().BackgroundReferences);
        daemon.ReplyEmpty(r.Unique);
        Assert.True(rel.Done().IsOk);
        Assert.Equal(0, d.GetNodeReferences(20));
        Assert.Equal(20UL, daemon.Read(Opcode.Forget).NodeId);
        AssertQuiescent(d);
    }

    [Fact]
    public async Task Failed_CREATE_its_RELEASE_is_followed_by_a_FORGET()
    {
        var (d, daemon) = Start();
        var client = new VfsClient(d, Rq.Alice);
        using var cts = new CancellationTokenSource();
        client.AfterCreateReply = cts.Cancel; // the caller is interrupted just after CREATE succeeded
        var create = client.CreateAsync(1, "new", cancellationToken: cts.Token);
        var c = daemon.Read(Opcode.Create);
        daemon.Reply(c.Unique, Wire.Build().Struct(FakeDaemon.Entry(30)).Struct(new FuseOpenOut { Fh = 77 }).ToArray());

        var ex = await Assert.ThrowsAsync<FuseErrnoException>(() => create.Within());
        Assert.Equal(Errno.EINTR, ex.Errno);
        var rel = daemon.Read(Opcode.Release);
        Assert.Equal(30UL, rel.NodeId);
        Assert.Equal(77UL, rel.Arg<FuseReleaseIn>().Fh);
        Assert.Equal(1, d.GetNodeReferences(30));
        daemon.AssertNothingToRead(); // no FORGET before the RELEASE is answered
        daemon.ReplyEmpty(rel.Unique);
        var f = daemon.Read(Opcode.Forget);
        Assert.Equal(30UL, f.NodeId);
        Assert.Equal(1UL, f.Arg<FuseForgetIn>().NLookup);
        Assert.Equal(0UL, d.GetLookupCount(30));
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupted_CREATE_whose_late_reply_succeeds_is_released_then_forgotten()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        var create = d.SendAsync(Rq.Create(1, "late"), Rq.Alice, cts.Token);
        var c = daemon.Read(Opcode.Create);
        cts.Cancel();
        Assert.Equal(Errno.EINTR, create.Done().Error);
        var intr = daemon.Read(Opcode.Interrupt);
        Assert.Equal(c.Unique | 1, intr.Unique);

        Assert.Equal(160, daemon.Reply(c.Unique, Wire.Build().Struct(FakeDaemon.Entry(31)).Struct(new FuseOpenOut { Fh = 5 }).ToArray()));
        var rel = daemon.Read(Opcode.Release);
        Assert.Equal((31UL, 5UL), (rel.NodeId, rel.Arg<FuseReleaseIn>().Fh));
        daemon.ReplyEmpty(rel.Unique);
        Assert.Equal(31UL, daemon.Read(Opcode.Forget).NodeId);
        Assert.Equal(0UL, d.GetLookupCount(31));
        AssertQuiescent(d);
    }

    [Fact]
    public void Interrupted_OPEN_whose_late_reply_succeeds_is_released()
    {
        var (d, daemon) = Start();
        using var cts = new CancellationTokenSource();
        var open = d.SendAsync(Rq.Open(1), Rq.Alice, cts.Token);
        var o = daemon.Read(Opcode.Open);
        cts.Cancel();
        Assert.Equal(Errno.EINTR, open.Done().Error);
        daemon.Read(Opcode.Interrupt);
        daemon.Reply(o.Unique, new FuseOpenOut { Fh = 99 });
        var rel = daemon.Read(Opcode.Release);
        Assert.Equal(99UL, rel.Arg<FuseReleaseIn>().Fh);
        daemon.ReplyEmpty(rel.Unique);
        AssertQuiescent(d);
    }
}
