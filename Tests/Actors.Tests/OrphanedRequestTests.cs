using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// A filesystem actor that stops (or restarts) while it holds deferred requests answers them EIO, but whatever was
/// going to answer them (a worker thread still writing from a WRITE's data, a task filling a READDIR buffer) may
/// still be using their buffers: those buffers must never go back to a pool that the device reader rents from,
/// where the next request would overwrite them under the worker (another request's bytes in a file).
/// </summary>
public sealed class OrphanedRequestTests : Akka.TestKit.Xunit2.TestKit
{
    public OrphanedRequestTests() : base("akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR\nakka.log-dead-letters = 0") { }

    /// <summary>Defers every WRITE and keeps it, as a filesystem whose worker thread is stuck in a host call.</summary>
    private sealed class HoldingFs : FilesystemActor
    {
        protected override void Write(WriteRequest r) => r.Defer();
    }

    [Fact]
    public void A_write_still_deferred_when_the_filesystem_stops_is_answered_EIO_and_its_buffer_goes_back_to_no_pool()
    {
        var pool = new RequestBufferPool(64, 4);
        var held = pool.Rent();
        var fs = Sys.ActorOf(Props.Create(() => new HoldingFs()));
        var connection = CreateTestProbe();
        var write = new WriteRequest { Buffer = held, Pool = pool, Data = held.AsMemory(0, 16), ReplyTo = connection.Ref };
        fs.Tell(write);
        Watch(fs);
        AwaitCondition(() => write.IsDeferred, TimeSpan.FromSeconds(10));
        Sys.Stop(fs);
        ExpectTerminated(fs, TimeSpan.FromSeconds(10));

        var answered = connection.ExpectMsg<WriteRequest>(TimeSpan.FromSeconds(10));
        Assert.Same(write, answered);
        Assert.Equal(Errno.EIO, answered.Error);
        Assert.True(answered.IsOrphaned);
        answered.ReleaseBuffers(); // what the connection does when it retires the request
        Assert.NotSame(held, pool.Rent());
    }

    /// <summary>Answers GETATTR from a task that waits for <paramref name="gate"/>, as a filesystem asking a backend.</summary>
    private sealed class AwaitingFs(TaskCompletionSource gate) : FilesystemActor
    {
        protected override void GetAttr(GetAttrRequest r) => HandleAsync(r, async _ =>
        {
            await gate.Task;
            r.Fail(Errno.ENOENT);
        });
    }

    [Fact]
    public void A_request_the_engine_answered_goes_back_as_a_late_reply_when_its_task_ends_without_one()
    {
        // Before, the task's end found the request "replied" and did nothing: the connection kept it in the background
        // for ever, with its nodes pinned and every FORGET for them held back.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fs = Sys.ActorOf(Props.Create(() => new AwaitingFs(gate)));
        var connection = CreateTestProbe();
        var r = new GetAttrRequest { ReplyTo = connection.Ref };
        fs.Tell(r);
        AwaitCondition(() => r.IsDeferred, TimeSpan.FromSeconds(10));
        Assert.True(r.TryClaimForEngine(Errno.EIO)); // the request timeout answered the kernel
        gate.SetException(new IOException("the backend went away"));

        var back = connection.ExpectMsg<GetAttrRequest>(TimeSpan.FromSeconds(10));
        Assert.Same(r, back);
        Assert.True(back.IsLateReply);
        Assert.Equal(Errno.EIO, back.Error); // what the kernel was told stays
    }

    [Fact]
    public void A_Fail_that_loses_to_a_Reply_leaves_the_winning_reply_as_it_was()
    {
        // An EINTR from the interrupt handler racing a worker's reply: the loser must not change what is written.
        var write = new WriteRequest { Data = new byte[16], ReplyTo = TestActor };
        Assert.True(write.Reply(16));
        Assert.False(write.Fail(Errno.EINTR));
        Assert.Equal(Errno.Ok, ExpectMsg<WriteRequest>(TimeSpan.FromSeconds(10)).Error);
    }

    [Fact]
    public void A_write_answered_by_the_filesystem_gives_its_buffer_back_to_the_pool()
    {
        var pool = new RequestBufferPool(64, 4);
        var buffer = pool.Rent();
        var write = new WriteRequest { Buffer = buffer, Pool = pool, Data = buffer.AsMemory(0, 16), ReplyTo = TestActor };
        Assert.True(write.Reply(16));
        ExpectMsg<WriteRequest>(TimeSpan.FromSeconds(10)).ReleaseBuffers();
        Assert.False(write.IsOrphaned);
        Assert.Same(buffer, pool.Rent());
    }
}
