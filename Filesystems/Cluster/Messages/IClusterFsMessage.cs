namespace FuseActors.Filesystems.Cluster.Messages;

/// <summary>Every message the cluster filesystem sends between nodes or keeps in its journal: bound to
/// <see cref="Serialization.ClusterFsSerializer"/> (compact MessagePack arrays, never Akka's JSON default).</summary>
public interface IClusterFsMessage;

/// <summary>A message for the volume's namespace entity (routed by <see cref="Volume"/>).</summary>
public interface INamespaceMessage : IClusterFsMessage
{
    string Volume { get; }
}

/// <summary>A namespace command that changes the namespace. It is validated, stamped with <see cref="Time"/> and
/// persisted as it is: the journal is the list of accepted mutations, and recovery replays them through the same
/// deterministic <see cref="Namespace.NamespaceState.Apply"/>.</summary>
public interface INamespaceMutation : INamespaceMessage
{
    /// <summary>When the namespace accepted it, in nanoseconds since the epoch (0 until then).</summary>
    long Time { get; }
    INamespaceMutation WithTime(long time);
}

/// <summary>
/// A mutation that would not give the same result if applied twice (a create, a rename, an append...). The node
/// numbers its requests; the namespace remembers the answers to the last few thousand, so a request the node sends
/// again (its first try went to a node that died, and the answer was lost) gets the first answer instead of being
/// applied twice. 0: not numbered.
/// </summary>
public interface IDeduplicated
{
    string Origin { get; }
    ulong RequestId { get; }
}

/// <summary>A message for one chunk of one file's data.</summary>
public interface IChunkMessage : IClusterFsMessage
{
    string Volume { get; }
    ulong Ino { get; }
    long Index { get; }
}
