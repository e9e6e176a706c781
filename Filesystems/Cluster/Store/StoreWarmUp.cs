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

    private IActorRef? _asker;

    public StoreWarmUp(string persistenceId) => PersistenceId = persistenceId;

    public override string PersistenceId { get; }

    /// <summary>Warms the store and the serializer; completes (never throws) when done or after <paramref name="timeout"/>.</summary>
    public static async Task RunAsync(ActorSystem system, string nodeId, TimeSpan timeout)
    {
        var log = Logging.GetLogger(system, typeof(StoreWarmUp));
        WarmSerializer(system, log);
        // One id per node address (two nodes must not write one id): the event written below is deleted again, leaving
        // at most one row marked deleted per address (the journal keeps the highest sequence number).
        var actor = system.ActorOf(Props.Create(() => new StoreWarmUp("warmup-" + nodeId)));
        try
        {
            await actor.Ask<Done>(Go.Instance, timeout);
        }
        catch (Exception e)
        {
            log.Warning("the store's warm-up did not finish ({0}): the first requests may be slow", e.Message);
        }
        system.Stop(actor);
    }

    private static void WarmSerializer(ActorSystem system, ILoggingAdapter log)
    {
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
                log.Debug("serializer warm-up of {0}: {1}", type.Name, e.Message);
            }
        }
    }

    // Recovery (snapshot store and journal reads) runs before the first command.
    protected override void OnRecover(object message) { }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case Go:
                _asker = Sender;
                Persist(new ChunkWritten(0, [0]), _ => DeleteMessages(LastSequenceNr));
                break;
            case DeleteMessagesSuccess or DeleteMessagesFailure:
                _asker?.Tell(Done.Instance);
                Context.Stop(Self);
                break;
        }
    }
}
