using Akka.Actor;
using Akka.TestKit;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Actors.Tests.Support;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace FuseActors.Actors.Tests;

/// <summary>
/// The Connection's paths that a well-behaved kernel and filesystem never take, driven byte by byte: a kernel too
/// old, a second INIT, a duplicate unique, the filesystem dying with requests in flight, FORGETs that wait for nodes
/// pinned by a request the engine answered, and interrupts delivered to the filesystem as a message. The filesystem
/// here is a plain actor that hands every message to a probe, so the test answers (or does not) itself.
/// </summary>
public sealed class ConnectionTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly FuseAttr RootAttr = new() { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };

    public ConnectionTests() : base("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\nakka.log-dead-letters = 0") { }

    private sealed class ForwardingFilesystem : ReceiveActor
    {
        public ForwardingFilesystem(IActorRef probe) => ReceiveAny(m => probe.Forward(m));
    }

    private sealed record Served(ScriptedKernel Kernel, IActorRef Connection, IActorRef Filesystem, TestProbe Fs, Task<ConnectionReady> Ready,
        Task<ConnectionEnd> Ended);

    private Served Start(ConnectionSettings? settings = null)
    {
        var kernel = new ScriptedKernel();
        var probe = CreateTestProbe();
        var filesystem = Sys.ActorOf(Props.Create(() => new ForwardingFilesystem(probe.Ref)));
        var ready = new TaskCompletionSource<ConnectionReady>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<ConnectionEnd>(TaskCreationOptions.RunContinuationsAsynchronously);
        var connection = Sys.ActorOf(FuseConnection.Props([kernel], filesystem, settings ?? new ConnectionSettings(), ready, ended));
        return new Served(kernel, connection, filesystem, probe, ready.Task, ended.Task);
    }

    /// <summary>INIT answered: the filesystem is asked what it handles, then the kernel gets its reply.</summary>
    private async Task<Served> ServingAsync(ConnectionSettings? settings = null)
    {
        var s = Start(settings);
        s.Kernel.Init();
        s.Fs.ExpectMsg<FilesystemInitRequest>().Reply(FilesystemCapabilities.None);
        var (header, _) = s.Kernel.NextReply();
        Assert.Equal((1UL, 0), (header.Unique, header.Error));
        await s.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        return s;
    }

    [Fact]
    public async Task A_kernel_too_old_is_refused_with_EPROTO_and_the_mount_never_becomes_ready()
    {
        var s = Start();
        s.Kernel.Init(minor: FuseConstants.MinimumKernelMinor - 1);
        var (header, payload) = s.Kernel.NextReply();
        Assert.Equal((1UL, -(int)Errno.EPROTO, 0), (header.Unique, header.Error, payload.Length));
        var e = await Assert.ThrowsAsync<FuseDeviceException>(() => s.Ready.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.EPROTO, e.Errno);
        s.Fs.ExpectMsg<DestroyRequest>(); // the filesystem was never asked anything, only told the connection ends
        s.Fs.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_malformed_INIT_is_refused_with_EPROTO_and_the_mount_never_becomes_ready()
    {
        // Before, it was stashed to wait for INIT, which had come: neither the kernel nor Ready ever heard back.
        var s = Start();
        s.Kernel.Send(ScriptedKernel.Request(Opcode.Init, 1, 0, new byte[12])); // an INIT body is at least 16 bytes
        var (header, payload) = s.Kernel.NextReply();
        Assert.Equal((1UL, -(int)Errno.EPROTO, 0), (header.Unique, header.Error, payload.Length));
        var e = await Assert.ThrowsAsync<FuseDeviceException>(() => s.Ready.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.EPROTO, e.Errno);
        Assert.Contains("malformed INIT", e.Message);
        s.Fs.ExpectMsg<DestroyRequest>();
    }

    [Fact]
    public async Task A_second_INIT_is_answered_EIO_and_the_connection_goes_on_serving()
    {
        var s = await ServingAsync();
        s.Kernel.Init(unique: 3);
        Assert.Equal((3UL, -(int)Errno.EIO), Head(s.Kernel.NextReply()));

        s.Kernel.GetAttr(5, 1);
        s.Fs.ExpectMsg<GetAttrRequest>().Reply(RootAttr);
        Assert.Equal((5UL, 0), Head(s.Kernel.NextReply()));
    }

    [Fact]
    public async Task The_filesystem_decides_whether_O_TRUNC_is_negotiated()
    {
        foreach (var (capabilities, expected) in new[] { (FilesystemCapabilities.None, 0u), (FilesystemCapabilities.HandlesOpenTruncate, (uint)InitFlags.AtomicOTrunc) })
        {
            var s = Start();
            s.Kernel.Init();
            var ask = s.Fs.ExpectMsg<FilesystemInitRequest>();
            Assert.NotEqual(0UL, (ulong)(ask.KernelFlags & InitFlags.AtomicOTrunc)); // offered by the kernel
            ask.Reply(capabilities);
            var (_, payload) = s.Kernel.NextReply();
            var init = System.Runtime.InteropServices.MemoryMarshal.Read<FuseInitOut>(payload);
            Assert.Equal(expected, init.Flags & (uint)InitFlags.AtomicOTrunc);
            await s.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task The_filesystem_decides_whether_POSIX_and_flock_locks_are_negotiated()
    {
        const InitFlags locks = InitFlags.PosixLocks | InitFlags.FlockLocks;
        foreach (var (capabilities, expected) in new[]
        {
            (FilesystemCapabilities.None, (InitFlags)0),
            (FilesystemCapabilities.HandlesOpenTruncate, (InitFlags)0),
            (FilesystemCapabilities.PosixLocks, InitFlags.PosixLocks),
            (FilesystemCapabilities.FlockLocks, InitFlags.FlockLocks),
            (FilesystemCapabilities.PosixLocks | FilesystemCapabilities.FlockLocks, locks),
        })
        {
            var s = Start();
            s.Kernel.Init(flags: InitFlags.AtomicOTrunc | locks);
            s.Fs.ExpectMsg<FilesystemInitRequest>().Reply(capabilities);
            var (_, payload) = s.Kernel.NextReply();
            var init = System.Runtime.InteropServices.MemoryMarshal.Read<FuseInitOut>(payload);
            Assert.Equal(expected, (InitFlags)init.Flags & locks);
            await s.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Lock_requests_reach_the_filesystem_typed_and_GETLK_answers_fuse_lk_out()
    {
        var s = await ServingAsync();
        s.Kernel.Lock(Opcode.GetLk, 60, node: 2, owner: 0xAB, type: 1, start: 10, end: 19);
        var get = s.Fs.ExpectMsg<GetLockRequest>();
        Assert.Equal((2UL, 3UL, 0xABUL), (get.NodeId, get.FileHandle, get.Owner));
        Assert.Equal(new FileLock(10, 19, LockType.Write, 4321), get.Lock);
        get.Reply(new FileLock(0, FileLock.ToEndOfFile, LockType.Read, 777));
        var (header, payload) = s.Kernel.NextReply();
        Assert.Equal((60UL, 0), (header.Unique, header.Error));
        var lk = System.Runtime.InteropServices.MemoryMarshal.Read<FuseLkOut>(payload).Lk;
        Assert.Equal((0UL, FuseConstants.OffsetMax, 0u, 777u), (lk.Start, lk.End, lk.Type, lk.Pid)); // the kernel's OFFSET_MAX

        s.Kernel.Lock(Opcode.GetLk, 61, node: 2, owner: 0xAB, type: 0);
        s.Fs.ExpectMsg<GetLockRequest>().Reply(new FileLock(0, 0, LockType.Unlock, 0));
        (header, payload) = s.Kernel.NextReply();
        Assert.Equal((61UL, 0, 2u), (header.Unique, header.Error, System.Runtime.InteropServices.MemoryMarshal.Read<FuseLkOut>(payload).Lk.Type));

        s.Kernel.Lock(Opcode.SetLk, 62, node: 2, owner: 0xCD, type: 1, flock: true);
        var set = s.Fs.ExpectMsg<SetLockRequest>();
        Assert.Equal((Opcode.SetLk, false, true), (set.Opcode, set.Wait, set.IsFlock));
        Assert.Equal(FileLock.WholeFile(LockType.Write, 4321), set.Lock); // OFFSET_MAX is ToEndOfFile
        set.Fail(Errno.EAGAIN);
        Assert.Equal((62UL, -(int)Errno.EAGAIN), Head(s.Kernel.NextReply()));
    }

    [Fact]
    public async Task A_waiting_SETLKW_is_never_timed_out_does_not_hold_the_readers_credit_and_still_gets_EINTR_after_an_interrupt()
    {
        var clock = new FakeTimeProvider();
        // One credit: if the waiter kept it, the reader could never read the UNLOCK that frees it.
        var s = await ServingAsync(new ConnectionSettings
        {
            Time = clock, MaxInFlight = 1, RequestTimeout = TimeSpan.FromSeconds(30), InterruptGrace = TimeSpan.FromSeconds(2),
        });
        s.Kernel.Lock(Opcode.SetLkW, 70, node: 2, owner: 1, type: 1);
        var waiter = s.Fs.ExpectMsg<SetLockRequest>();
        Assert.True(waiter.Wait);
        Assert.Equal(Opcode.SetLkW, waiter.Opcode);

        s.Kernel.Lock(Opcode.SetLk, 71, node: 2, owner: 2, type: 2);
        s.Fs.ExpectMsg<SetLockRequest>().Reply();
        Assert.Equal((71UL, 0), Head(s.Kernel.NextReply()));

        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.False(s.Kernel.HasReplyWithin(TimeSpan.FromMilliseconds(300)), "the request timeout answered a waiting SETLKW");
        clock.Advance(TimeSpan.FromHours(1));
        Assert.False(s.Kernel.HasReplyWithin(TimeSpan.FromMilliseconds(300)), "the request timeout answered a waiting SETLKW");

        // Other requests are still timed out as before.
        s.Kernel.GetAttr(72, 1);
        s.Fs.ExpectMsg<GetAttrRequest>();
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal((72UL, -(int)Errno.EIO), Head(s.Kernel.NextReply()));

        // An interrupt still reaches the filesystem, and its grace still ends the wait.
        s.Kernel.Interrupt(73, target: 70);
        Assert.Same(waiter, s.Fs.ExpectMsg<RequestInterrupted>().Request);
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal((70UL, -(int)Errno.EINTR), Head(s.Kernel.NextReply()));

        // The credit came back exactly once: with one credit the connection still serves, one request at a time.
        for (ulong u = 80; u < 83; u++)
        {
            s.Kernel.GetAttr(u, 1);
            s.Fs.ExpectMsg<GetAttrRequest>().Reply(RootAttr);
            Assert.Equal((u, 0), Head(s.Kernel.NextReply()));
        }
        var stats = await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance);
        Assert.Equal(0, stats.InFlight);
    }

    [Fact]
    public async Task A_SETLKW_the_filesystem_answers_gives_no_second_credit_back()
    {
        var s = await ServingAsync(new ConnectionSettings { MaxInFlight = 2 });
        for (ulong u = 90; u < 95; u++)
        {
            s.Kernel.Lock(Opcode.SetLkW, u, node: 2, owner: u, type: 0);
            s.Fs.ExpectMsg<SetLockRequest>().Reply();
            Assert.Equal((u, 0), Head(s.Kernel.NextReply()));
        }
        // Still exactly two credits: two GETATTRs the filesystem holds use both, a third is read only when one is answered.
        s.Kernel.GetAttr(100, 1);
        s.Kernel.GetAttr(101, 1);
        s.Kernel.GetAttr(102, 1);
        var held = new[] { s.Fs.ExpectMsg<GetAttrRequest>(), s.Fs.ExpectMsg<GetAttrRequest>() };
        s.Fs.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        held[0].Reply(RootAttr);
        Assert.Equal((100UL, 0), Head(s.Kernel.NextReply()));
        s.Fs.ExpectMsg<GetAttrRequest>().Reply(RootAttr);
        Assert.Equal((102UL, 0), Head(s.Kernel.NextReply()));
        held[1].Reply(RootAttr);
        Assert.Equal((101UL, 0), Head(s.Kernel.NextReply()));
    }

    [Fact]
    public async Task A_duplicate_unique_is_answered_EIO_and_the_first_request_keeps_its_reply()
    {
        var s = await ServingAsync();
        s.Kernel.GetAttr(7, 1);
        var first = s.Fs.ExpectMsg<GetAttrRequest>();
        s.Kernel.GetAttr(7, 1);
        Assert.Equal((7UL, -(int)Errno.EIO), Head(s.Kernel.NextReply()));
        s.Fs.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the duplicate never reached the filesystem

        first.Reply(RootAttr);
        Assert.Equal((7UL, 0), Head(s.Kernel.NextReply()));
    }

    [Fact]
    public async Task When_the_filesystem_dies_its_requests_in_flight_get_EIO_and_later_ones_ENOTCONN()
    {
        var s = await ServingAsync();
        s.Kernel.GetAttr(10, 1);
        s.Kernel.GetAttr(11, 1);
        s.Fs.ExpectMsg<GetAttrRequest>();
        s.Fs.ExpectMsg<GetAttrRequest>();

        Sys.Stop(s.Filesystem);
        var answered = new[] { Head(s.Kernel.NextReply()), Head(s.Kernel.NextReply()) }.OrderBy(h => h.Item1);
        Assert.Equal(new[] { (10UL, -(int)Errno.EIO), (11UL, -(int)Errno.EIO) }, answered);

        s.Kernel.GetAttr(12, 1);
        Assert.Equal((12UL, -(int)Errno.ENOTCONN), Head(s.Kernel.NextReply()));
    }

    [Theory]
    [InlineData(Errno.ENODEV, ConnectionEndKind.Unmounted, false)]
    [InlineData(Errno.ECONNABORTED, ConnectionEndKind.Aborted, true)]
    [InlineData(Errno.EIO, ConnectionEndKind.Failed, true)]
    public async Task How_the_kernel_side_ended_is_reported_when_the_connection_stops(Errno read, ConnectionEndKind kind, bool failure)
    {
        // What a daemon's exit code comes from: an unmount is a clean end, an abort (fusectl) or a failed queue is not.
        var s = await ServingAsync();
        s.Kernel.End(read);
        var end = await s.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((kind, failure), (end.Kind, end.IsFailure));
        if (read != Errno.ENODEV) Assert.Contains(read.ToString(), end.Reason);
    }

    [Fact]
    public async Task A_connection_asked_to_stop_ended_cleanly_and_one_whose_filesystem_died_failed()
    {
        var asked = await ServingAsync();
        asked.Connection.Tell(StopConnection.Instance);
        var end = await asked.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((ConnectionEndKind.Stopped, false), (end.Kind, end.IsFailure));

        // The filesystem dying leaves the mount answering ENOTCONN; when it is then unmounted, the end still says why.
        var dead = await ServingAsync();
        Watch(dead.Filesystem);
        Sys.Stop(dead.Filesystem);
        ExpectTerminated(dead.Filesystem);
        dead.Kernel.GetAttr(12, 1);
        Assert.Equal((12UL, -(int)Errno.ENOTCONN), Head(dead.Kernel.NextReply()));
        dead.Kernel.Dispose();
        end = await dead.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((ConnectionEndKind.Failed, "the filesystem actor stopped"), (end.Kind, end.Reason));
    }

    [Fact]
    public async Task The_deadline_sweep_stops_while_nothing_is_in_flight_and_a_request_after_the_idle_spell_still_times_out()
    {
        var clock = new TickCountingTimeProvider(new FakeTimeProvider());
        var s = await ServingAsync(new ConnectionSettings
        {
            Time = clock, SweepInterval = TimeSpan.FromMilliseconds(100), RequestTimeout = TimeSpan.FromSeconds(30),
        });
        s.Kernel.GetAttr(40, 1);
        s.Fs.ExpectMsg<GetAttrRequest>().Reply(RootAttr);
        Assert.Equal((40UL, 0), Head(s.Kernel.NextReply()));

        // The first tick with nothing in flight stops the timer. Advance runs the timer's callback at once, so its
        // message is in the connection's mailbox before the Ask, whose answer then means the sweep has run.
        clock.Inner.Advance(TimeSpan.FromMilliseconds(100));
        await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(10));
        int before = clock.Ticks;
        for (int i = 0; i < 10; i++) clock.Inner.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(before, clock.Ticks);

        // The next request starts it again: a filesystem that never answers still gets its EIO at the timeout.
        s.Kernel.GetAttr(41, 1);
        s.Fs.ExpectMsg<GetAttrRequest>();
        clock.Inner.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal((41UL, -(int)Errno.EIO), Head(s.Kernel.NextReply()));
        Assert.True(clock.Ticks > before, "the sweep timer did not tick again after a request");
    }

    [Fact]
    public async Task The_deadline_sweep_stops_while_only_waiting_SETLKWs_are_in_flight_and_an_interrupt_starts_it_again()
    {
        var clock = new TickCountingTimeProvider(new FakeTimeProvider());
        var s = await ServingAsync(new ConnectionSettings
        {
            Time = clock, SweepInterval = TimeSpan.FromMilliseconds(100), RequestTimeout = TimeSpan.FromSeconds(30),
            InterruptGrace = TimeSpan.FromSeconds(2),
        });
        s.Kernel.Lock(Opcode.SetLkW, 90, node: 2, owner: 1, type: 1);
        var waiter = s.Fs.ExpectMsg<SetLockRequest>();

        // A SETLKW has no deadline: the first tick stops the timer, though the request is still in flight.
        clock.Inner.Advance(TimeSpan.FromMilliseconds(100));
        await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(10));
        int before = clock.Ticks;
        for (int i = 0; i < 10; i++) clock.Inner.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(before, clock.Ticks);
        Assert.Equal(1, (await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(10))).InFlight);

        // An interrupt gives it a deadline: the timer runs again and the grace ends the wait with EINTR.
        s.Kernel.Interrupt(91, target: 90);
        Assert.Same(waiter, s.Fs.ExpectMsg<RequestInterrupted>().Request);
        await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, TimeSpan.FromSeconds(10));
        clock.Inner.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal((90UL, -(int)Errno.EINTR), Head(s.Kernel.NextReply()));
        Assert.True(clock.Ticks > before, "the sweep timer did not tick again after the interrupt");
    }

    /// <summary>A fake clock whose timers count their callbacks.</summary>
    private sealed class TickCountingTimeProvider(FakeTimeProvider inner) : TimeProvider
    {
        private int _ticks;
        public FakeTimeProvider Inner { get; } = inner;
        public int Ticks => Volatile.Read(ref _ticks);
        public override long GetTimestamp() => Inner.GetTimestamp();
        public override long TimestampFrequency => Inner.TimestampFrequency;
        public override DateTimeOffset GetUtcNow() => Inner.GetUtcNow();
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            Inner.CreateTimer(s => { Interlocked.Increment(ref _ticks); callback(s); }, state, dueTime, period);
    }

    [Fact]
    public async Task A_FORGET_for_a_node_pinned_by_a_background_request_waits_until_the_filesystem_lets_go()
    {
        var clock = new FakeTimeProvider();
        var s = await ServingAsync(new ConnectionSettings { Time = clock, RequestTimeout = TimeSpan.FromSeconds(30) });
        s.Kernel.Lookup(20, parent: 5, "x");
        var stuck = s.Fs.ExpectMsg<LookupRequest>();

        clock.Advance(TimeSpan.FromSeconds(31)); // the engine answers EIO for it; node 5 stays pinned
        Assert.Equal((20UL, -(int)Errno.EIO), Head(s.Kernel.NextReply()));
        var stats = await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance);
        Assert.Equal((0, 1, 1), (stats.InFlight, stats.Background, stats.PinnedNodes));

        s.Kernel.Forget(21, node: 5, nlookup: 1);
        s.Kernel.Forget(22, node: 6, nlookup: 2);
        var passed = s.Fs.ExpectMsg<ForgetRequest>();
        Assert.Equal((6UL, 2UL), (passed.Forgets[0].NodeId, passed.Forgets[0].NLookup));
        s.Fs.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // node 5's FORGET waits

        Assert.False(stuck.Fail(Errno.ENOENT)); // a late reply: not written, but it lets go of node 5
        var released = s.Fs.ExpectMsg<ForgetRequest>();
        Assert.Equal((5UL, 1UL), (released.Forgets[0].NodeId, released.Forgets[0].NLookup));
        Assert.False(s.Kernel.HasReplyWithin(TimeSpan.FromMilliseconds(200)));
        stats = await s.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance);
        Assert.Equal((0, 0, 0), (stats.Background, stats.PinnedNodes, stats.DeferredForgets));
    }

    [Fact]
    public async Task An_interrupt_reaches_the_filesystem_as_a_message_and_the_grace_is_counted_on_the_injected_clock()
    {
        var clock = new FakeTimeProvider();
        var s = await ServingAsync(new ConnectionSettings { Time = clock, InterruptGrace = TimeSpan.FromSeconds(2) });
        s.Kernel.GetAttr(30, 1);
        var request = s.Fs.ExpectMsg<GetAttrRequest>();
        var token = request.Cancellation;

        s.Kernel.Interrupt(31, target: 30);
        var interrupted = s.Fs.ExpectMsg<RequestInterrupted>();
        Assert.Same(request, interrupted.Request);
        Assert.True(request.IsInterrupted);
        Assert.False(token.IsCancellationRequested); // cancelled only where the filesystem handles the message
        interrupted.CancelToken();
        Assert.True(token.IsCancellationRequested);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(s.Kernel.HasReplyWithin(TimeSpan.FromMilliseconds(200)));
        clock.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Equal((30UL, -(int)Errno.EINTR), Head(s.Kernel.NextReply()));
    }

    [Fact]
    public async Task Unknown_opcodes_get_ENOSYS_and_malformed_bodies_EINVAL_without_reaching_the_filesystem()
    {
        var s = await ServingAsync();
        s.Kernel.Send(ScriptedKernel.Request((Opcode)4000, 40, 1, []));
        Assert.Equal((40UL, -(int)Errno.ENOSYS), Head(s.Kernel.NextReply()));
        s.Kernel.Send(ScriptedKernel.Request(Opcode.Lookup, 41, 1, "no-nul"u8.ToArray()));
        Assert.Equal((41UL, -(int)Errno.EINVAL), Head(s.Kernel.NextReply()));
        s.Fs.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    private static (ulong, int) Head((FuseOutHeader Header, byte[] Payload) reply) => (reply.Header.Unique, reply.Header.Error);
}
