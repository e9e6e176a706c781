using System.Collections;
using System.Reflection;
using System.Runtime.Serialization;
using Akka.Actor;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Namespace;
using FuseActors.Filesystems.Cluster.Serialization;
using MessagePack;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>
/// Every cluster filesystem message goes through <see cref="ClusterFsSerializer"/> (never Akka's JSON default), has a
/// stable manifest, and comes back equal, field for field, from the bytes a real ActorSystem writes.
/// </summary>
public sealed class SerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serializer", SerializerBindings);

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(30));

    private static readonly byte[] NotUtf8 = [0xE8, (byte)'a', 0xFF];
    private static readonly NodeAttr Attr = new(42, 0x81A4, 3, 1000, 1001, 0x0501, 123456789, 111, 222, 333);
    private static readonly HeldLock Held = new(42, 7, 100, ulong.MaxValue, 1, 4242, true);
    private static readonly DirEntry Entry = new(NotUtf8, 43, 0x41ED, 17);

    /// <summary>One or more samples of every message type; between them every field holds a non-default value.</summary>
    internal static readonly object[] Samples =
    [
        new NsLookup("vol", 7, NotUtf8),
        new NsGetAttr("vol", 9),
        new NsReadDir("vol", 10),
        new NsReadLink("vol", 11),
        new NsGetXattr("vol", 12, N("user.x")),
        new NsListXattr("vol", 13),
        new NsStatFs("vol"),
        new NsMakeNode("vol", 1_700_000_000_000_000_001, 1, NotUtf8, 0x81A4, 1000, 1001, 0x0501, null, false, "n1", true),
        new NsMakeNode("vol", 5, 2, [], 0xA1FF, 1, 2, 0, N("../target"), true, "n2", false, 31),
        new NsLink("vol", 5, 2, 3, NotUtf8, "n2", 32),
        new NsRemove("vol", 6, 1, NotUtf8, true, "n1", 33),
        new NsRename("vol", 7, 1, N("a"), 2, NotUtf8, 2, 10, 11, "n1", 34),
        new NsSetAttr("vol", 8, 2, 0xFFF, 0x1ED, 1, 2, 4096, 11, 12, 13, "n1"),
        new NsWritten("vol", 9, 2, 8192, true, "n1", 4096),
        new NsAppend("vol", 9, 2, 100, "n2", 35),
        new NsChunks("vol", 2, 3),
        new NsSetXattr("vol", 10, 2, NotUtf8, [0, 1, 2, 0xE8], 1, "n1", 36),
        new NsRemoveXattr("vol", 11, 2, NotUtf8, "n1", 37),
        new NsFree("vol", 12, 99),
        new NsSubscribe("vol", "n2", [1, 2, ulong.MaxValue], [Held, Held with { Flock = false, Type = 0 }]),
        new NsSubscribe("vol", "n3", [], []),
        new NsOpen("vol", 4, "n2"),
        new NsClose("vol", 4, "n2"),
        new NsLock("vol", "n1", Held, true, true, 77),
        new NsCancelLockWait("vol", "n1", 77),
        new LockResult(11, Held, 77),
        new LockResult(0, null, 0),
        Held,
        new NsResult(2, Attr, NotUtf8, [Entry, Entry with { Ino = 44 }], [NotUtf8, N("user.y")], 42, [0, 3, long.MaxValue],
            7, 638_000_000_000_000_000, [Attr, Attr with { Ino = 45 }], [new ResolvedEntry(1, NotUtf8, 42), new ResolvedEntry(1, N("gone"), 0)]),
        new NsResult(0),
        new NsResult(0, Bytes: [], Entries: [], Names: []),
        Attr,
        Entry,
        new Invalidate([1, 2], [new EntryRef(1, NotUtf8)], [new DeleteRef(1, 2, NotUtf8)], 9, 638_000_000_000_000_000, 3, true),
        new Invalidate([], [], []),
        new EntryRef(1, NotUtf8),
        new DeleteRef(1, 2, NotUtf8),
        new Subscribed("vol", 638_000_000_000_000_000, 3, 9),
        new Subscribed("vol"),
        new ResolvedEntry(1, NotUtf8, 42),
        new ChunkWrite("vol", 2, 3, 100, [1, 2, 3]),
        new ChunkRead("vol", 2, 3, 100, 4096),
        new ChunkTruncate("vol", 2, 3, 17),
        new ChunkPurge("vol", 2, 3),
        new ChunkResult(0, [1, 2, 3], 3),
        new ChunkResult(22, null, -1),
        new ChunkWritten(10, [9, 8, 7]),
        new ChunkTruncated(50),
        new ChunkSnapshot([5, 6, 7]),
        new NamespaceSnapshot(99,
        [
            new InodeRecord(Attr, 1, N("target"), [Entry], [NotUtf8, N("user.b")], [[1], []], [0, 2]),
            new InodeRecord(Attr with { Ino = 1 }, 1, null, null, null, null, null),
        ], [new AppliedRequest("n1", 7, new NsResult(0, Attr))]),
        new AppliedRequest("n2", ulong.MaxValue, NsResult.Ok),
        new InodeRecord(Attr, 7, N("t"), [Entry], [NotUtf8], [[0xE9]], [7], 99),
    ];

    private static IEnumerable<Type> MessageTypes() =>
        typeof(IClusterFsMessage).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IClusterFsMessage).IsAssignableFrom(t));

    [Fact]
    public void Every_message_type_in_the_assembly_has_a_manifest_and_manifests_are_unique_two_letter_codes()
    {
        var missing = MessageTypes().Where(t => !ClusterFsSerializer.Manifests.ContainsKey(t)).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0, "no manifest for: " + string.Join(", ", missing));
        var manifests = ClusterFsSerializer.Manifests.Values.ToList();
        Assert.Equal(manifests.Count, manifests.Distinct(StringComparer.Ordinal).Count());
        Assert.All(manifests, m => Assert.Equal(2, m.Length));
        // And nothing in the table that is not a message (the binding would not route it to the serializer).
        Assert.All(ClusterFsSerializer.Manifests.Keys, t => Assert.True(typeof(IClusterFsMessage).IsAssignableFrom(t), t.FullName));
    }

    [Fact]
    public void Every_message_type_has_a_sample_and_the_samples_set_every_field()
    {
        var sampled = Samples.Select(s => s.GetType()).ToHashSet();
        var missing = MessageTypes().Where(t => !sampled.Contains(t)).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0, "add a sample to SerializerTests.Samples for: " + string.Join(", ", missing));

        foreach (var group in Samples.GroupBy(s => s.GetType()))
        {
            foreach (var p in SerializedProperties(group.Key))
            {
                Assert.True(group.Any(s => !IsDefault(p.GetValue(s))),
                    $"no sample of {group.Key.Name} sets {p.Name} to a non-default value (a round trip would not prove it is kept)");
            }
        }
    }

    public static TheoryData<int> SampleIndexes()
    {
        var d = new TheoryData<int>();
        for (int i = 0; i < Samples.Length; i++) d.Add(i);
        return d;
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Sample_round_trips_through_the_serializer_the_actor_system_picks(int index)
    {
        var sample = Samples[index];
        var serializer = _system.Serialization.FindSerializerFor(sample);
        Assert.IsType<ClusterFsSerializer>(serializer);
        var withManifest = (ClusterFsSerializer)serializer;
        var manifest = withManifest.Manifest(sample);
        Assert.Equal(ClusterFsSerializer.Manifests[sample.GetType()], manifest);

        var bytes = serializer.ToBinary(sample);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.IsType(sample.GetType(), back);
        AssertStructurallyEqual(sample, back, sample.GetType().Name);
        Assert.Equal(bytes, serializer.ToBinary(back));
    }

    [Fact]
    public void Null_and_empty_arrays_and_names_that_are_not_utf8_survive()
    {
        var serializer = (ClusterFsSerializer)_system.Serialization.FindSerializerFor(new NsResult(0));
        var empty = (NsResult)serializer.FromBinary(serializer.ToBinary(new NsResult(0, Bytes: [])), "NR");
        Assert.NotNull(empty.Bytes);
        Assert.Empty(empty.Bytes!);
        var none = (NsResult)serializer.FromBinary(serializer.ToBinary(new NsResult(0)), "NR");
        Assert.Null(none.Bytes);
        Assert.Null(none.Entries);
        Assert.Null(none.Names);
        var lookup = (NsLookup)serializer.FromBinary(serializer.ToBinary(new NsLookup("v", 1, [0xE8])), "LU");
        Assert.Equal(new byte[] { 0xE8 }, lookup.Name);
    }

    [Fact]
    public void An_unknown_manifest_throws_a_serialization_exception_that_names_it()
    {
        var serializer = (ClusterFsSerializer)_system.Serialization.FindSerializerFor(new NsStatFs("v"));
        var bytes = serializer.ToBinary(new NsStatFs("v"));
        var e = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "Zz"));
        Assert.Contains("'Zz'", e.Message);
    }

    [Fact]
    public void A_4_KiB_chunk_write_costs_less_than_4200_bytes()
    {
        var data = new byte[4096];
        new Random(1).NextBytes(data);
        var write = new ChunkWrite("default", 123456, 789, 0, data);
        var bytes = _system.Serialization.FindSerializerFor(write).ToBinary(write);
        Assert.True(bytes.Length < 4200, $"{bytes.Length} bytes");
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>The members MessagePack writes: public instance properties with [Key].</summary>
    private static IEnumerable<PropertyInfo> SerializedProperties(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetCustomAttribute<KeyAttribute>() is not null);

    private static bool IsDefault(object? v) => v switch
    {
        null => true,
        Array a => a.Length == 0,
        string s => s.Length == 0,
        _ => v.GetType().IsValueType && v.Equals(Activator.CreateInstance(v.GetType())),
    };

    /// <summary>Records compare arrays by reference: compare every [Key] property, arrays element by element.</summary>
    private static void AssertStructurallyEqual(object? expected, object? actual, string path)
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: {Show(expected)} vs {Show(actual)}");
            return;
        }
        Assert.True(expected.GetType() == actual.GetType(), $"{path}: {expected.GetType()} vs {actual.GetType()}");
        if (expected is byte[] eb)
        {
            Assert.True(eb.AsSpan().SequenceEqual((byte[])actual), $"{path}: bytes differ");
            return;
        }
        if (expected is Array ea)
        {
            var aa = (Array)actual;
            Assert.True(ea.Length == aa.Length, $"{path}: length {ea.Length} vs {aa.Length}");
            for (int i = 0; i < ea.Length; i++) AssertStructurallyEqual(ea.GetValue(i), aa.GetValue(i), $"{path}[{i}]");
            return;
        }
        var props = SerializedProperties(expected.GetType()).ToList();
        if (props.Count == 0)
        {
            Assert.True(expected.Equals(actual), $"{path}: {expected} vs {actual}");
            return;
        }
        foreach (var p in props) AssertStructurallyEqual(p.GetValue(expected), p.GetValue(actual), $"{path}.{p.Name}");
    }

    private static string Show(object? o) => o switch
    {
        null => "null",
        IEnumerable e and not string => $"[{string.Join(",", e.Cast<object>())}]",
        _ => o.ToString()!,
    };
}
