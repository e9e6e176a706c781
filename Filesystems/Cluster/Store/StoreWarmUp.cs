using System.Runtime.CompilerServices;
using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Serialization;

namespace FuseActors.Filesystems.Cluster.Store;

/// <summary>
/// Runs this node's store paths once while it starts: the journal and snapshot plugins' first use (linq2db builds and
/// compiles its queries then) and the cluster filesystem's serializer for every message type. Without it the first
/// chunk entity a node hosted took ~1.4 s to answer its first write (measured: the first write of a new file landing on
/// each node of a fresh three-node cluster took 1.4-1.7 s, later ones 20-35 ms).
/// </summary>
internal sealed class StoreWarmUp : UntypedPersistentActor
{
    private sealed class Go
    {
        public static readonly Go Instance = new();
    }

    // True once the event is written and deleted; false if this actor stops first (a recovery or persist failure).
    private readonly TaskCompletionSource<bool> _done;

    public StoreWarmUp(string persistenceId, TaskCompletionSource<bool> done)
    {
        PersistenceId = persistenceId;
        _done = done;
    }

    public override string PersistenceId { get; }

    /// <summary>Warms the store and the serializer. True when the store answered; false (logged, never thrown) when it
    /// failed or did not answer within <paramref name="timeout"/>. <paramref name="nodeId"/> names this node among
    /// every node of every volume on the store (two writers must never share the warm-up's persistence id).</summary>
    public static async Task<bool> RunAsync(ActorSystem system, string nodeId, TimeSpan timeout)
    {
        var log = Logging.GetLogger(system, typeof(StoreWarmUp));
        var serializer = Task.Run(() => WarmSerializer(system, log));
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool ok;
        try
        {
            // One id per node (the event written is deleted again, leaving at most one row marked deleted per id: the
            // journal keeps the highest sequence number).
            var actor = system.ActorOf(Props.Create(() => new StoreWarmUp("warmup-" + nodeId, done)));
            actor.Tell(Go.Instance);
            ok = await Task.WhenAny(done.Task, Task.Delay(timeout)) == done.Task && done.Task.Result;
            if (!ok) log.Warning("the store's warm-up failed or took over {0}: the first requests may be slow", timeout);
            system.Stop(actor);
        }
        catch (Exception e)
        {
            log.Warning("the store's warm-up failed ({0}): the first requests may be slow", e.Message);
            ok = false;
        }
        await serializer;
        return ok;
    }

    /// <summary>A round trip through the cluster filesystem's serializer for every message type; how many failed.</summary>
    internal static int WarmSerializer(ActorSystem system, ILoggingAdapter log)
    {
        int failed = 0;
        var serialization = system.Serialization;
        foreach (var type in ClusterFsSerializer.Manifests.Keys)
        {
            try
            {
                // Fields left at their defaults (null arrays included) go through the same formatters as real ones.
                var sample = RuntimeHelpers.GetUninitializedObject(type);
                var serializer = (ClusterFsSerializer)serialization.FindSerializerFor(sample);
                serializer.FromBinary(serializer.ToBinary(sample), serializer.Manifest(sample));
            }
            catch (Exception e)
            {
                failed++;
                log.Warning("serializer warm-up of {0}: {1}", type.Name, e.Message);
            }
        }
        return failed;
    }

    // Recovery (snapshot store and journal reads) runs before the first command.
    protected override void OnRecover(object message) { }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case Go:
                Persist(new ChunkWritten(0, [0]), _ => DeleteMessages(LastSequenceNr));
                break;
            case DeleteMessagesSuccess:
                _done.TrySetResult(true);
                Context.Stop(Self);
                break;
            case DeleteMessagesFailure:
                Context.Stop(Self);
                break;
        }
    }

    protected override void PostStop()
    {
        _done.TrySetResult(false);
        base.PostStop();
    }
}
