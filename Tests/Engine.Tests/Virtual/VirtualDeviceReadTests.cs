using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>The daemon's reads: blocking, non-blocking, poll, buffer rules.</summary>
public sealed class VirtualDeviceReadTests : VirtualDeviceTestBase
{
    [Fact]
    public async Task Read_blocks_until_a_request_is_queued()
    {
        var (d, daemon) = Start();
        var buffer = new byte[1 << 17];
        using var started = new ManualResetEventSlim();
        var reader = Task.Factory.StartNew(() =>
        {
            started.Set();
            return d.Read(buffer); // blocking (the device is not non-blocking)
        }, TaskCreationOptions.LongRunning);
        started.Wait(FakeDaemon.Timeout);
        Assert.False(reader.IsCompleted);
        var caller = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        int n = await reader.Within();
        var r = FakeDaemon.Parse(buffer.AsSpan(0, n));
        Assert.Equal(Opcode.GetAttr, r.Opcode);
        daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True((await caller.Within()).IsOk);
    }

    [Fact]
    public void Read_on_a_non_blocking_device_returns_EAGAIN_when_nothing_is_queued()
    {
        using var d = new VirtualDevice(new VirtualDeviceOptions { NonBlocking = true });
        var buffer = new byte[8192];
        Assert.True(d.Read(buffer) > 0); // INIT
        Assert.Equal(-(int)Errno.EAGAIN, d.Read(buffer));
        var (d2, _) = Start();
        Assert.Equal(-(int)Errno.EAGAIN, d2.Read(new byte[1 << 17], nonBlocking: true)); // or per read
    }

    [Fact]
    public async Task Blocked_read_returns_EINTR_when_the_reader_is_signalled()
    {
        var (d, _) = Start();
        using var cts = new CancellationTokenSource();
        var reader = Task.Factory.StartNew(() => d.Read(new byte[1 << 17], cts.Token), TaskCreationOptions.LongRunning);
        await cts.CancelAsync();
        Assert.Equal(-(int)Errno.EINTR, await reader.Within());
    }

    [Fact]
    public async Task ReadAsync_waits_without_a_thread_and_returns_EINTR_on_cancellation()
    {
        var (d, daemon) = Start();
        var buffer = new byte[1 << 17];
        var pending = d.ReadAsync(buffer).AsTask();
        Assert.False(pending.IsCompleted);
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        int n = await pending.Within();
        Assert.Equal(Opcode.GetAttr, FakeDaemon.Parse(buffer.AsSpan(0, n)).Opcode);

        using var cts = new CancellationTokenSource();
        var cancelled = d.ReadAsync(buffer, cts.Token).AsTask();
        await cts.CancelAsync();
        Assert.Equal(-(int)Errno.EINTR, await cancelled.Within());
    }

    [Fact]
    public async Task Poll_reports_POLLOUT_always_POLLIN_when_readable_and_POLLERR_when_disconnected()
    {
        var (d, daemon) = Start();
        Assert.Equal(PollEvents.Out | PollEvents.WrNorm, d.Poll());
        Assert.False(d.Readable);
        var wait = d.WaitReadableAsync();
        Assert.False(wait.IsCompleted);

        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        await wait.Within();
        Assert.Equal(PollEvents.In | PollEvents.RdNorm | PollEvents.Out | PollEvents.WrNorm, d.Poll());
        Assert.True(d.Readable);
        daemon.Read(Opcode.GetAttr);
        Assert.False(d.Readable);

        LookupNode(d, daemon, 3);
        d.Forget(3);
        Assert.True(d.Readable); // a queued forget is readable too

        await d.WaitReadableAsync().Within(); // readable now: completes at once
        daemon.Read(Opcode.Forget);
        var waitAbort = d.WaitReadableAsync();
        d.Abort();
        await waitAbort.Within();
        Assert.Equal(PollEvents.Err, d.Poll());
    }

    [Fact]
    public void Read_with_a_buffer_too_small_for_the_next_request_fails_that_request_with_EIO_and_goes_on_to_the_next()
    {
        var (d, daemon) = Start(maxWrite: 4096);
        daemon.Buffer = new byte[8192];
        var big = d.SendAsync(Rq.Write(1, 1, new byte[9000]), Rq.Alice);
        var small = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        var r = daemon.Read();
        Assert.Equal(Opcode.GetAttr, r.Opcode);
        Assert.Equal(Errno.EIO, big.Done().Error);
        daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        Assert.True(small.Done().IsOk);
        AssertQuiescent(d);
    }

    [Fact]
    public void Read_with_a_buffer_too_small_for_a_SETXATTR_fails_it_with_E2BIG()
    {
        var (d, daemon) = Start(maxWrite: 4096);
        daemon.Buffer = new byte[8192];
        var big = d.SendAsync(Rq.SetXAttr(1, "user.big", new byte[9000]), Rq.Alice);
        daemon.AssertNothingToRead(); // it was the only request: the read goes on, finds nothing (EAGAIN)
        Assert.Equal(Errno.E2BIG, big.Done().Error);
        AssertQuiescent(d);
    }

    [Fact]
    public void Read_with_a_buffer_below_the_minimum_fails_with_EINVAL_before_anything_is_taken()
    {
        var (d, _) = Start(maxWrite: 65536);
        _ = d.SendAsync(Rq.GetAttr(), Rq.Alice);
        Assert.Equal(65616, d.MinReadBufferSize);
        Assert.Equal(-(int)Errno.EINVAL, d.Read(new byte[65615], nonBlocking: true));
        Assert.Equal(1, d.PendingCount);
        Assert.True(d.Read(new byte[65616], nonBlocking: true) > 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // a BeforeHandOut hook (the test kit's) must not change the interleaving
    public void Forgets_and_requests_are_interleaved_sixteen_to_eight(bool announced)
    {
        var (d, daemon) = Start(maxOutstanding: 64, maxWrite: 4096);
        if (announced) d.BeforeHandOut = _ => { };
        daemon.Buffer = new byte[8192];
        // 30 nodes, each forgotten separately while requests are queued: one forget per read (a single queued one
        // is a FORGET); mix with 20 queued requests.
        var nodes = Enumerable.Range(100, 30).Select(i => (ulong)i).ToList();
        foreach (var n in nodes) LookupNode(d, daemon, n, "n" + n);
        var callers = Enumerable.Range(0, 20).Select(_ => d.SendAsync(Rq.GetAttr(), Rq.Alice)).ToList();
        foreach (var n in nodes) d.Forget(n);

        // Every read takes all queued forgets at once as a BATCH_FORGET, so count reads, not entries:
        var kinds = new List<Opcode>();
        for (int i = 0; i < 21; i++)
        {
            var r = daemon.Read();
            kinds.Add(r.Opcode);
            if (r.Opcode == Opcode.GetAttr) daemon.ReplyAttr(r.Unique, 1, Posix.S_IFDIR | 0x1ED);
        }
        // The kernel starts with forget_batch = 0: 8 requests are read before the first forget batch.
        Assert.Equal(Enumerable.Repeat(Opcode.GetAttr, 8), kinds.Take(8));
        Assert.Equal(Opcode.BatchForget, kinds[8]);
        Assert.All(callers, c => Assert.True(c.Done().IsOk));
        AssertQuiescent(d);
    }
}
