using Akka.Actor;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Data;
using FuseActors.Filesystems.Cluster.Messages;
using Xunit.Abstractions;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>
/// <see cref="ChunkEntity"/> on a real SQLite journal: a chunk keeps what was written where it was written, reads
/// holes as zeros, truncates, refuses writes past its size, recovers (through a snapshot too) in a new ActorSystem,
/// and after a purge a new incarnation starts empty.
/// </summary>
public sealed class ChunkEntityTests : SqliteJournalTestKit
{
    private const int ChunkSize = 4096;
    private static readonly TimeSpan T = TimeSpan.FromSeconds(10);

    public ChunkEntityTests(ITestOutputHelper output) : base("chunks", output) { }

    private static readonly string Id = ChunkEntity.EntityId("vol", 7, 3);

    private IActorRef Chunk(ActorSystem? system = null, string? id = null) => (system ?? Sys).ActorOf(ChunkEntity.Props(id ?? Id, ChunkSize));

    private void StopAndWait(IActorRef actor)
    {
        Watch(actor);
        actor.Tell(PoisonPill.Instance);
        ExpectTerminated(actor, T);
        Unwatch(actor);
    }

    private static async Task<ChunkResult> Write(IActorRef c, int offset, byte[] data)
    {
        var r = await c.Ask<ChunkResult>(new ChunkWrite("vol", 7, 3, offset, data), T);
        Assert.Equal(0, r.Errno);
        Assert.Equal(data.Length, r.Length);
        return r;
    }

    private static Task<ChunkResult> Read(IActorRef c, int offset = 0, int length = ChunkSize) =>
        c.Ask<ChunkResult>(new ChunkRead("vol", 7, 3, offset, length), T);

    private static Task<ChunkResult> Truncate(IActorRef c, int length) => c.Ask<ChunkResult>(new ChunkTruncate("vol", 7, 3, length), T);

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    /// <summary>What the chunk should hold after "hello" at 0, "world" at 100, "XY" at 2.</summary>
    private static byte[] Expected()
    {
        var e = new byte[105];
        Bytes("heXYo").CopyTo(e, 0);
        Bytes("world").CopyTo(e, 100);
        return e;
    }

    [Fact]
    public async Task Writes_land_at_their_offsets_and_holes_read_as_zeros()
    {
        var c = Chunk();
        Assert.Empty((await Read(c)).Data!);
        await Write(c, 0, Bytes("hello"));
        await Write(c, 100, Bytes("world"));
        await Write(c, 2, Bytes("XY"));

        var all = await Read(c);
        Assert.Equal(Expected(), all.Data);
        Assert.Equal(105, all.Length);
        // A read beyond the data is short; past the end, empty.
        Assert.Equal(Bytes("ld"), (await Read(c, 103, 50)).Data);
        Assert.Equal(new byte[10], (await Read(c, 10, 10)).Data);
        var past = await Read(c, 200, 10);
        Assert.Empty(past.Data!);
        Assert.Equal(105, past.Length);
    }

    [Fact]
    public async Task A_write_past_the_chunk_size_is_EINVAL_and_changes_nothing()
    {
        var c = Chunk();
        await Write(c, ChunkSize - 6, Bytes("edge!!"));
        var tooFar = await c.Ask<ChunkResult>(new ChunkWrite("vol", 7, 3, ChunkSize - 6, Bytes("edge!!!")), T);
        Assert.Equal((int)Errno.EINVAL, tooFar.Errno);
        Assert.Equal((int)Errno.EINVAL, (await c.Ask<ChunkResult>(new ChunkWrite("vol", 7, 3, -1, [1]), T)).Errno);
        Assert.Equal((int)Errno.EINVAL, (await c.Ask<ChunkResult>(new ChunkWrite("vol", 7, 3, ChunkSize, [1]), T)).Errno);
        var all = await Read(c);
        Assert.Equal(ChunkSize, all.Length);
        Assert.Equal(Bytes("edge!!"), all.Data![^6..]);
    }

    [Fact]
    public async Task Truncate_cuts_the_data_and_a_later_write_past_it_sees_zeros_not_old_bytes()
    {
        var c = Chunk();
        await Write(c, 0, Enumerable.Repeat((byte)0xAA, 100).ToArray());
        Assert.Equal(new ChunkResult(0, null, 10), await Truncate(c, 10));
        Assert.Equal(10, (await Read(c)).Data!.Length);
        await Write(c, 50, [1]);
        var data = (await Read(c)).Data!;
        Assert.Equal(51, data.Length);
        Assert.All(data[..10], b => Assert.Equal(0xAA, b));
        Assert.All(data[10..50], b => Assert.Equal(0, b));
        // Truncating to more than there is changes nothing.
        Assert.Equal(51, (await Truncate(c, 4000)).Length);
        Assert.Equal(0, (await Truncate(c, 0)).Length);
        Assert.Empty((await Read(c)).Data!);
    }

    [Fact]
    public async Task A_new_actor_system_recovers_the_chunk()
    {
        var c = Chunk();
        await Write(c, 0, Bytes("hello"));
        await Write(c, 100, Bytes("world"));
        await Write(c, 2, Bytes("XY"));
        await Write(c, 300, Bytes("cut me"));
        Assert.Equal(105, (await Truncate(c, 105)).Length);
        StopAndWait(c);

        var other = OtherSystem();
        var recovered = await Read(Chunk(other));
        Assert.Equal(Expected(), recovered.Data);
        Assert.Equal(105, recovered.Length);
        await other.Terminate().WaitAsync(T);
    }

    [Fact]
    public async Task A_chunk_recovers_from_its_snapshot_and_the_events_after_it()
    {
        var c = Chunk();
        var expected = new byte[ChunkSize];
        var rng = new Random(42);
        for (int i = 0; i < 3; i++) // 3 x 4 KiB journalled: a snapshot after the second
        {
            var block = new byte[ChunkSize];
            rng.NextBytes(block);
            await Write(c, 0, block);
            block.CopyTo(expected, 0);
        }
        await Write(c, 10, Bytes("after")); // an event after the snapshot
        Bytes("after").CopyTo(expected, 10);
        AwaitAssert(() => Assert.Equal(1, Count(Db, $"SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'chunk-{Id}'")), T);
        Assert.Equal(expected, (await Read(c)).Data);
        StopAndWait(c);

        var other = OtherSystem();
        var again = Chunk(other);
        Assert.Equal(expected, (await Read(again)).Data);
        // And it goes on writing from there.
        await Write(again, ChunkSize - 1, [9]);
        expected[^1] = 9;
        Assert.Equal(expected, (await Read(again)).Data);
    }

    [Fact]
    public async Task After_a_purge_a_new_incarnation_is_empty()
    {
        var c = Chunk();
        var block = new byte[ChunkSize];
        Array.Fill(block, (byte)7);
        for (int i = 0; i < 3; i++) await Write(c, 0, block); // with a snapshot, so both kinds must go
        AwaitAssert(() => Assert.Equal(1, Count(Db, $"SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'chunk-{Id}'")), T);
        c.Tell(new ChunkPurge("vol", 7, 3));
        Assert.Empty((await Read(c)).Data!);
        StopAndWait(c);

        // The deletes are asynchronous: wait for them, then every new incarnation is empty.
        AwaitAssert(() => Assert.Equal(0, Count(Db, $"SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'chunk-{Id}'")), T);
        await AwaitAssertAsync(async () =>
        {
            var fresh = Chunk();
            try
            {
                var read = await Read(fresh);
                Assert.Empty(read.Data!);
                Assert.Equal(0, read.Length);
            }
            finally { StopAndWait(fresh); }
        }, T);
        var other = OtherSystem();
        var r = await Read(Chunk(other));
        Assert.Empty(r.Data!);
        Assert.Equal(0, r.Length);

        // Another chunk is untouched by it.
        var neighbour = Chunk(id: ChunkEntity.EntityId("vol", 7, 4));
        await Write(neighbour, 0, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, (await Read(neighbour)).Data);
    }
}
