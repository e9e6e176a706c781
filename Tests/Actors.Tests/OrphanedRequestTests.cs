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
