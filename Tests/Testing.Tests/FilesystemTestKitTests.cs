using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;
using Xunit.Abstractions;

namespace FuseActors.Testing.Tests;

/// <summary>The kit itself: the real engine on a VirtualDevice, and every fault point and fault kind.</summary>
public sealed class FilesystemTestKitTests(ITestOutputHelper output) : FilesystemTestKit(output)
{
    // Operations must reach the filesystem: no answers from the kernel side's attribute cache.
    private static readonly FilesystemTestOptions NoCache = new() { Client = new VfsClientOptions { UseAttrCache = false } };

    // A deadline for things that happen after a call returns (late replies, FORGETs), not a speed requirement.
    private static readonly TimeSpan Eventually = TimeSpan.FromSeconds(20);

    private static async Task<FuseErrnoException> Fails(Task task) => await Assert.ThrowsAsync<FuseErrnoException>(() => task);

    /// <summary>Every request was answered or ended, credit and debt are back, no node is referenced by a request.</summary>
    private void AssertQuiescent(ServedFilesystem fs) => AwaitAssert(() =>
    {
        var s = fs.Device.Stats();
        Assert.Equal((s.MaxOutstanding, 0, 0, 0, 0, 0, 0), (s.Credit, s.Debt, s.Pending, s.Processing, s.Background, s.BackgroundReferences, s.NodeReferences));
    }, Eventually);

    [Fact]
    public async Task Engine_serves_a_filesystem_on_the_virtual_device_unchanged()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());
        Assert.Equal(VirtualDeviceState.Initialized, fs.Device.State);
        Assert.Equal(FuseConstants.KernelMinorVersion, fs.Negotiated.KernelMinor);
        Assert.Equal(fs.Negotiated.MaxWrite, fs.Device.MaxWrite);

        await fs.Files.CreateDirectoryAsync("docs/notes");
        await fs.Files.WriteAllTextAsync("docs/notes/a.txt", "hello");
        Assert.Equal("hello", await fs.Files.ReadAllTextAsync("docs/notes/a.txt"));
        Assert.Equal(["a.txt"], (await fs.Files.ListDirectoryAsync("docs/notes")).Select(e => e.Name));

        AssertQuiescent(fs);
        AwaitAssert(() => Assert.Equal([FuseConstants.RootId], fs.Device.LookupCounts().Keys), Eventually); // every lookup given back
    }

    [Fact]
    public async Task Flush_and_fsync_a_filesystem_does_not_implement_succeed_and_are_not_sent_again_as_in_the_kernel()
    {
        await using var fs = await ServeAsync(MemoryFs.Props()); // MemoryFs keeps no per-open state: FLUSH is ENOSYS
        var flushes = fs.Faults.At(FaultPoint.BeforeFilesystemReads, Opcode.Flush, _ => { }, times: int.MaxValue);
        var fsyncs = fs.Faults.At(FaultPoint.BeforeFilesystemReads, Opcode.Fsync, _ => { }, times: int.MaxValue);
        var created = await fs.Client.CreateAsync(VfsClient.RootId, "f");
        for (int i = 0; i < 3; i++)
        {
            await fs.Client.FlushAsync(created.Handle);
            await fs.Client.FsyncAsync(created.Handle);
        }
        Assert.Equal(1, flushes.FireCount);
        Assert.Equal(1, fsyncs.FireCount);
        await fs.Client.ReleaseAsync(created.Handle);
    }

    [Fact]
    public async Task Stopping_closes_the_device_and_the_engine_ends()
    {
        var fs = await ServeAsync(MemoryFs.Props());
        await fs.StopAsync();
        Assert.True(fs.Mount.Completion.IsCompleted);
        Assert.Equal(VirtualDeviceState.Disconnected, fs.Device.State);
        Assert.Equal(Errno.ENOTCONN, (await Fails(fs.Client.StatFsAsync())).Errno);
    }

    [Fact]
    public async Task Interrupt_before_the_filesystem_reads_dequeues_the_request_and_the_filesystem_never_sees_it()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());
        using var caller = new CancellationTokenSource();
        var fault = fs.Faults.InterruptAt(FaultPoint.BeforeFilesystemReads, Opcode.MkDir, caller);

        var e = await Fails(fs.Client.MkDirAsync(FuseConstants.RootId, "never", cancellationToken: caller.Token));
        Assert.Equal(Errno.EINTR, e.Errno);
        Assert.Equal(Opcode.MkDir, (await fault.Fired).Opcode);
        Assert.Equal(Errno.ENOENT, (await Fails(fs.Client.LookupAsync(FuseConstants.RootId, "never"))).Errno);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Abort_before_the_filesystem_reads_ends_the_request_with_ECONNABORTED_and_later_callers_get_ENOTCONN()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());
        fs.Faults.AbortAt(FaultPoint.BeforeFilesystemReads, Opcode.Lookup);

        Assert.Equal(Errno.ECONNABORTED, (await Fails(fs.Client.LookupAsync(FuseConstants.RootId, "x"))).Errno);
        Assert.Equal(Errno.ENOTCONN, (await Fails(fs.Client.StatFsAsync())).Errno);
        await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(30)); // the engine's reader saw the end and stopped
    }

    [Fact]
    public async Task Interrupt_after_the_read_returns_EINTR_at_once_and_the_filesystem_gets_FUSE_INTERRUPT()
    {
        var probe = CreateTestProbe();
        await using var fs = await ServeAsync(ProbeFs.Props(probe.Ref), NoCache);
        using var caller = new CancellationTokenSource();
        fs.Faults.InterruptAt(FaultPoint.AfterReadBeforeReply, Opcode.GetAttr, caller);

        var call = fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token);
        Assert.Equal(Errno.EINTR, (await Fails(call)).Errno); // the seed's rule: the caller leaves at once
        var request = await probe.ExpectMsgAsync<GetAttrRequest>();
        AwaitCondition(() => request.IsInterrupted, Eventually); // the engine delivered the FUSE_INTERRUPT
        Assert.Equal(1, fs.Device.BackgroundCount); // the request waits in the background for its late reply

        request.Fail(Errno.EINTR);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Engine_answers_for_a_stuck_filesystem_after_the_interrupt_grace_and_the_background_request_ends()
    {
        var probe = CreateTestProbe();
        var options = NoCache with
        {
            Connection = new ConnectionSettings { InterruptGrace = TimeSpan.FromMilliseconds(100) },
        };
        await using var fs = await ServeAsync(ProbeFs.Props(probe.Ref), options);
        using var caller = new CancellationTokenSource();
        var call = fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token);
        var request = await probe.ExpectMsgAsync<GetAttrRequest>(); // and never answered

        caller.Cancel();
        Assert.Equal(Errno.EINTR, (await Fails(call)).Errno);
        // The Connection's deadline sweep answers EINTR for the filesystem once the grace is over; the kernel side drops
        // it as the late reply of a backgrounded request.
        AssertQuiescent(fs);
        Assert.True(request.IsInterrupted);
        Assert.False(request.Fail(Errno.EIO)); // the engine answered already; the filesystem's reply goes nowhere
    }

    [Fact]
    public async Task Abort_during_the_reply_ends_the_caller_with_ECONNABORTED_and_stops_the_engine()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.AbortAt(FaultPoint.DuringReply, Opcode.GetAttr);

        Assert.Equal(Errno.ECONNABORTED, (await Fails(fs.Client.GetAttrAsync(FuseConstants.RootId))).Errno);
        await fault.Fired;
        await fs.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, fs.Device.Stats().BackgroundReferences);
    }

    [Fact]
    public async Task Interrupt_during_the_reply_returns_EINTR_and_the_reply_arrives_as_a_late_one()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        using var caller = new CancellationTokenSource();
        var fault = fs.Faults.InterruptAt(FaultPoint.DuringReply, Opcode.GetAttr, caller);

        Assert.Equal(Errno.EINTR, (await Fails(fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token))).Errno);
        await fault.Fired; // the reply was written after the signal: the kernel side dropped it as a late reply
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Dropped_reply_leaves_the_caller_waiting_until_it_is_interrupted()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.DropReply(Opcode.GetAttr);
        using var caller = new CancellationTokenSource();

        var call = fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token);
        await fault.Fired;
        Assert.False(call.IsCompleted); // the reply is gone: nothing can answer the caller
        caller.Cancel();
        Assert.Equal(Errno.EINTR, (await Fails(call)).Errno);

        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory); // the connection goes on
        Assert.Equal(1, fs.Device.BackgroundCount); // the dropped request is never answered: it stays backgrounded
    }

    [Fact]
    public async Task Held_reply_released_after_the_caller_was_interrupted_is_dropped_as_a_late_reply()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var held = fs.Faults.HoldReply(Opcode.GetAttr);
        using var caller = new CancellationTokenSource();

        var call = fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token);
        var request = await held.Captured;
        Assert.False(call.IsCompleted);
        caller.Cancel();
        Assert.Equal(Errno.EINTR, (await Fails(call)).Errno);
        Assert.Equal(1, fs.Device.BackgroundCount);

        Assert.Equal(FuseConstants.OutHeaderSize + Wire.SizeOf<FuseAttrOut>(), held.Release());
        Assert.Equal(request.Unique, (await held.Fault.Fired).Unique);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Held_reply_released_in_time_answers_the_caller()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var held = fs.Faults.HoldReply(Opcode.StatFs);
        var call = fs.Client.StatFsAsync();
        await held.Captured;
        Assert.False(call.IsCompleted);
        held.Release();
        Assert.True((await call).Blocks > 0);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Delayed_reply_reaches_the_caller()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.DelayReply(Opcode.GetAttr, TimeSpan.FromMilliseconds(50));
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory);
        await fault.Fired;
        AssertQuiescent(fs);
    }

    [Theory]
    [InlineData(ReplyMalformation.PayloadTooLong, Opcode.GetAttr)]
    [InlineData(ReplyMalformation.PayloadTooLong, Opcode.StatFs)]
    [InlineData(ReplyMalformation.ErrorWithPayload, Opcode.GetAttr)]
    public async Task Malformed_reply_to_a_known_request_gives_the_caller_EIO_and_disturbs_nothing_else(ReplyMalformation how, Opcode opcode)
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.MalformReply(opcode, how);
        Task call = opcode == Opcode.GetAttr ? fs.Client.GetAttrAsync(FuseConstants.RootId) : fs.Client.StatFsAsync();

        Assert.Equal(Errno.EIO, (await Fails(call)).Errno);
        await fault.Fired;
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory);
        AssertQuiescent(fs);
    }

    [Theory]
    [InlineData(ReplyMalformation.ErrorOutOfRange)]
    [InlineData(ReplyMalformation.LengthMismatch)]
    public async Task Malformed_reply_header_names_no_request_so_the_caller_waits_until_interrupted(ReplyMalformation how)
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.MalformReply(Opcode.GetAttr, how);
        using var caller = new CancellationTokenSource();

        var call = fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: caller.Token);
        await fault.Fired;
        Assert.False(call.IsCompleted);
        Assert.Equal(1, fs.Device.ProcessingCount);
        caller.Cancel();
        Assert.Equal(Errno.EINTR, (await Fails(call)).Errno);
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory);
    }

    [Fact]
    public async Task Fault_fires_only_on_its_opcode_and_predicate_as_many_times_as_armed()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        await fs.Files.WriteAllTextAsync("f", "x");
        var f = await fs.Client.LookupAsync(FuseConstants.RootId, "f");
        var fault = fs.Faults.MalformReply(Opcode.GetAttr, where: r => r.NodeId == f.NodeId, times: 2);

        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory); // another node: untouched
        Assert.Equal(Errno.EIO, (await Fails(fs.Client.GetAttrAsync(f.NodeId))).Errno);
        Assert.Equal(Errno.EIO, (await Fails(fs.Client.GetAttrAsync(f.NodeId))).Errno);
        Assert.True((await fs.Client.GetAttrAsync(f.NodeId)).IsFile);
        Assert.Equal((0, 2), (fault.Remaining, fault.FireCount));
        fs.Client.Forget(f.NodeId);
        AssertQuiescent(fs);
    }

    [Fact]
    public async Task Fault_action_that_throws_faults_Fired_and_the_request_goes_on()
    {
        await using var fs = await ServeAsync(MemoryFs.Props(), NoCache);
        var fault = fs.Faults.At(FaultPoint.AfterReadBeforeReply, Opcode.GetAttr, _ => throw new InvalidOperationException("test bug"));
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory);
        await Assert.ThrowsAsync<InvalidOperationException>(() => fault.Fired);
    }

    [Fact]
    public async Task Callers_identity_reaches_the_filesystem()
    {
        var probe = CreateTestProbe();
        await using var fs = await ServeAsync(ProbeFs.Props(probe.Ref), NoCache with { Caller = new FuseCaller(1000, 100, 4242) });
        var call = fs.Client.As(new FuseCaller(1001, 101, 77)).GetAttrAsync(FuseConstants.RootId);
        var r = await probe.ExpectMsgAsync<GetAttrRequest>();
        Assert.Equal((1001u, 101u, 77u), (r.Uid, r.Gid, r.Pid));
        r.Reply(ProbeFs.RootAttr);
        Assert.True((await call).IsDirectory);
    }
}
