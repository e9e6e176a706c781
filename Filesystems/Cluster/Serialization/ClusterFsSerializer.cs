using Akka.Actor;
using Akka.Serialization;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Namespace;
using MessagePack;
using MessagePack.Resolvers;

namespace FuseActors.Filesystems.Cluster.Serialization;

/// <summary>
/// The cluster filesystem's serializer, bound to <see cref="IClusterFsMessage"/> for remote messages and the
/// journal alike: MessagePack arrays (fields by position, no names) behind a two-letter manifest per type. A 4 KiB
/// write is ~4.1 KB on the wire; Akka's default JSON would base64 it and name every field.
/// Manifests are part of the journal's format: never reuse or change one; add new ones.
/// </summary>
public sealed class ClusterFsSerializer : SerializerWithStringManifest
{
    public const int Id = 4771;

    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>Every serializable type with its manifest.</summary>
    internal static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(NsLookup)] = "LU", [typeof(NsGetAttr)] = "GA", [typeof(NsReadDir)] = "RD", [typeof(NsReadLink)] = "RL",
        [typeof(NsGetXattr)] = "GX", [typeof(NsListXattr)] = "LX", [typeof(NsStatFs)] = "SF", [typeof(NsChunks)] = "CH",
        [typeof(NsMakeNode)] = "MN", [typeof(NsLink)] = "LN", [typeof(NsRemove)] = "RM", [typeof(NsRename)] = "RN",
        [typeof(NsSetAttr)] = "SA", [typeof(NsWritten)] = "WR", [typeof(NsSetXattr)] = "SX", [typeof(NsRemoveXattr)] = "RX",
        [typeof(NsFree)] = "FR", [typeof(NsAppend)] = "AP",
        [typeof(NsSubscribe)] = "SU", [typeof(NsOpen)] = "OP", [typeof(NsClose)] = "CL",
        [typeof(NsLock)] = "LK", [typeof(NsCancelLockWait)] = "LC", [typeof(LockResult)] = "LR", [typeof(HeldLock)] = "HL",
        [typeof(NsResult)] = "NR", [typeof(NodeAttr)] = "AT", [typeof(DirEntry)] = "DE",
        [typeof(Invalidate)] = "IV", [typeof(EntryRef)] = "ER", [typeof(DeleteRef)] = "DR", [typeof(Subscribed)] = "SD",
        [typeof(ResolvedEntry)] = "RE",
        [typeof(ChunkWrite)] = "CW", [typeof(ChunkRead)] = "CR", [typeof(ChunkTruncate)] = "CT", [typeof(ChunkPurge)] = "CP",
        [typeof(ChunkResult)] = "CS", [typeof(ChunkWritten)] = "Cw", [typeof(ChunkTruncated)] = "Ct", [typeof(ChunkSnapshot)] = "Cs",
        [typeof(NamespaceSnapshot)] = "NS", [typeof(InodeRecord)] = "IR", [typeof(AppliedRequest)] = "AR",
    };

    private static readonly Dictionary<string, Type> Types = Manifests.ToDictionary(kv => kv.Value, kv => kv.Key);

    public ClusterFsSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => Id;

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var m) ? m : throw new ArgumentException($"{o.GetType()} has no cluster filesystem manifest");

    public override byte[] ToBinary(object obj) => MessagePackSerializer.Serialize(obj.GetType(), obj, Options);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Types.TryGetValue(manifest, out var type))
            throw new System.Runtime.Serialization.SerializationException($"unknown cluster filesystem manifest '{manifest}'");
        return MessagePackSerializer.Deserialize(type, bytes, Options)!;
    }
}
