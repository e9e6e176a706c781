using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Tests.Shared.TestFilesystems;

/// <summary>
/// The store behind <see cref="KeyValueFs"/>: a dictionary of values that answers every message after a random
/// 0–50 ms, as a remote backend would. It knows nothing of FUSE.
/// </summary>
public sealed class KeyValueStore : ReceiveActor
{
    public sealed record Get(FileName Key);
    public sealed record Put(FileName Key, byte[] Value);
    public sealed record Delete(FileName Key);
    public sealed record ListKeys;
    /// <summary>The answer to <see cref="Get"/>: null when the key is missing.</summary>
    public sealed record Value(byte[]? Bytes);
    public sealed record Done(bool Existed);
    public sealed record Keys(FileName[] All);

    private readonly Dictionary<FileName, byte[]> _values = new();
    private readonly Random _random = new(7);

    public KeyValueStore()
    {
        Receive<Get>(m => Later(new Value(_values.GetValueOrDefault(m.Key))));
        Receive<Put>(m => { _values[m.Key] = m.Value; Later(new Done(true)); });
        Receive<Delete>(m => Later(new Done(_values.Remove(m.Key))));
        Receive<ListKeys>(_ => Later(new Keys(_values.Keys.Order().ToArray())));
    }

    private void Later(object answer) =>
        Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(_random.Next(0, 51)), Sender, answer, Self);

    public static Props Props() => Akka.Actor.Props.Create<KeyValueStore>();
}

/// <summary>
/// A flat filesystem over <see cref="KeyValueStore"/>, written the way a new author would: every handler asks the
/// store with <see cref="FilesystemActor.HandleAsync"/> and answers after the await (which resumes inside this actor,
/// so the node table is safe to touch there). It keeps the default <c>Open</c> and declares no capabilities, so the
/// engine must not send it O_TRUNC in OPEN. A few names exercise what goes wrong in an author's code:
/// "throws-later" (a continuation throws), "forgotten" (a handler returns without answering), "held" (a request is
/// deferred and never answered), "waits-for-interrupt" (the answer comes only from the interrupt).
/// </summary>
public sealed class KeyValueFs : FilesystemActor
{
    public const string ThrowsLater = "throws-later", Forgotten = "forgotten", Held = "held", WaitsForInterrupt = "waits-for-interrupt";
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(10);
    private readonly IActorRef _store;
    private readonly Dictionary<FileName, ulong> _nodes = new();
    private readonly Dictionary<ulong, FileName> _keys = new();
    private readonly List<FsRequest> _held = new();
    private ulong _nextNode = 2;

    public KeyValueFs(IActorRef store) => _store = store;

    /// <summary>With its own store, started as its child.</summary>
    public KeyValueFs() => _store = Context.ActorOf(KeyValueStore.Props(), "store");

    public static Props Props(IActorRef store) => Akka.Actor.Props.Create(() => new KeyValueFs(store));

    public static Props Props() => Akka.Actor.Props.Create<KeyValueFs>();

    /// <summary>Sent by a test: answered with true when an interrupt was handled inside this actor.</summary>
    public sealed record WasInterruptHandledInActor;
    /// <summary>Sent by a test: answered with the number of requests this actor holds unanswered.</summary>
    public sealed record CountHeld;
    /// <summary>Sent by a test: throws outside any handler, so the actor's supervisor decides (restart, resume).</summary>
    public sealed record Crash;

    private bool? _interruptHandledInActor;

    private ulong NodeOf(FileName key)
    {
        if (_nodes.TryGetValue(key, out var node)) return node;
        node = _nextNode++;
        _nodes[key] = node;
        _keys[node] = key;
        return node;
    }

    private static FuseAttr FileAttr(ulong node, int size) =>
        new() { Ino = node, Mode = ModeBits.Regular | 0x1A4, Nlink = 1, Size = (ulong)size };

    private static readonly FuseAttr RootAttr = new() { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };

    private Task<T> Ask<T>(object message, CancellationToken ct) => _store.Ask<T>(message, StoreTimeout, ct);

    protected override void Lookup(LookupRequest r)
    {
        switch (r.Name.ToUtf8String())
        {
            case Forgotten:
                return; // a bug: no answer and no Defer()
            case Held:
                r.Defer();
                _held.Add(r);
                return;
            case WaitsForInterrupt:
                HandleAsync(r, async ct =>
                {
                    await Task.Delay(Timeout.Infinite, ct); // ends only with the interrupt: HandleAsync answers EINTR
                });
                return;
        }
        HandleAsync(r, async ct =>
        {
            var value = await Ask<KeyValueStore.Value>(new KeyValueStore.Get(r.Name), ct);
            if (r.Name == ThrowsLater) throw new InvalidOperationException("a bug after the await");
            if (value.Bytes is null) { r.Fail(Errno.ENOENT); return; }
            var node = NodeOf(r.Name);
            r.Reply(new Entry { NodeId = node, Attr = FileAttr(node, value.Bytes.Length) });
        });
    }

    protected override void GetAttr(GetAttrRequest r)
    {
        if (r.NodeId == 1) { r.Reply(RootAttr); return; }
        HandleAsync(r, async ct =>
        {
            if (!_keys.TryGetValue(r.NodeId, out var key)) throw new FuseErrnoException(Errno.ENOENT);
            var value = await Ask<KeyValueStore.Value>(new KeyValueStore.Get(key), ct);
            if (value.Bytes is null) throw new FuseErrnoException(Errno.ENOENT);
            r.Reply(FileAttr(r.NodeId, value.Bytes.Length));
        });
    }

    /// <summary>Size changes only (truncate), which is how O_TRUNC reaches a filesystem that does not handle it in OPEN.</summary>
    protected override void SetAttr(SetAttrRequest r) => HandleAsync(r, async ct =>
    {
        if (!_keys.TryGetValue(r.NodeId, out var key)) throw new FuseErrnoException(Errno.ENOENT);
        var value = (await Ask<KeyValueStore.Value>(new KeyValueStore.Get(key), ct)).Bytes ?? throw new FuseErrnoException(Errno.ENOENT);
        if (r.SetsSize)
        {
            var resized = new byte[(int)r.Size];
            value.AsSpan(0, Math.Min(value.Length, resized.Length)).CopyTo(resized);
            await Ask<KeyValueStore.Done>(new KeyValueStore.Put(key, resized), ct);
            value = resized;
        }
        r.Reply(FileAttr(r.NodeId, value.Length));
    });

    protected override void Create(CreateRequest r) => HandleAsync(r, async ct =>
    {
        await Ask<KeyValueStore.Done>(new KeyValueStore.Put(r.Name, []), ct);
        var node = NodeOf(r.Name);
        r.Reply(new Entry { NodeId = node, Attr = FileAttr(node, 0) }, fh: 0);
    });

    protected override void Read(ReadRequest r) => HandleAsync(r, async ct =>
    {
        var value = (await Ask<KeyValueStore.Value>(new KeyValueStore.Get(_keys[r.NodeId]), ct)).Bytes ?? [];
        int start = (int)Math.Min(r.Offset, (ulong)value.Length);
        r.Reply(value.AsMemory(start, Math.Min(value.Length - start, (int)r.Size)));
    });

    protected override void Write(WriteRequest r)
    {
        var data = r.Data.ToArray(); // the payload is the engine's buffer: copy it before the first await
        HandleAsync(r, async ct =>
        {
            var key = _keys[r.NodeId];
            var value = (await Ask<KeyValueStore.Value>(new KeyValueStore.Get(key), ct)).Bytes ?? [];
            int end = (int)r.Offset + data.Length;
            var updated = new byte[Math.Max(end, value.Length)];
            value.CopyTo(updated, 0);
            data.CopyTo(updated, (int)r.Offset);
            await Ask<KeyValueStore.Done>(new KeyValueStore.Put(key, updated), ct);
            r.Reply((uint)data.Length);
        });
    }

    protected override void Unlink(UnlinkRequest r) => HandleAsync(r, async ct =>
    {
        var done = await Ask<KeyValueStore.Done>(new KeyValueStore.Delete(r.Name), ct);
        if (done.Existed) r.Reply(); else r.Fail(Errno.ENOENT);
    });

    protected override void ReadDir(ReadDirRequest r) => HandleAsync(r, async ct =>
    {
        var keys = (await Ask<KeyValueStore.Keys>(new KeyValueStore.ListKeys(), ct)).All;
        for (int i = (int)r.Offset; i < keys.Length; i++)
            if (!r.TryAdd(keys[i], NodeOf(keys[i]), ModeBits.Regular, (ulong)i + 1)) break;
        r.Reply();
    });

    protected override void Interrupted(FsRequest request)
    {
        // Context is only valid inside this actor's own message: on the engine's thread it is the connection's.
        _interruptHandledInActor = Context.Self.Equals(Self);
    }

    protected override void OnOtherMessage(object message)
    {
        switch (message)
        {
            case WasInterruptHandledInActor:
                Sender.Tell(_interruptHandledInActor ?? false);
                break;
            case CountHeld:
                _held.RemoveAll(r => r.IsReplied);
                Sender.Tell(_held.Count);
                break;
            case Crash:
                throw new InvalidOperationException("crash requested by the test");
            default:
                Unhandled(message);
                break;
        }
    }

}
