using System.Text;
using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// A filesystem whose files change behind the kernel's back (as another cluster node would change them), with
/// everything cached for an hour (entries, attributes, and pages: FOPEN_KEEP_CACHE): the kernel sees a change only
/// when the filesystem notifies it. Its own protocol: <see cref="SetContent"/>, <see cref="MoveName"/> (change state
/// only), <see cref="InvalidateInode"/>, <see cref="InvalidateEntry"/>, <see cref="Delete"/> (answer the Notify
/// method's bool). <see cref="Handle"/> gives the test the actor.
/// </summary>
public sealed class ChangingFs : FilesystemActor
{
    private static readonly TimeSpan Long = TimeSpan.FromHours(1);

    public sealed class Handle
    {
        private readonly TaskCompletionSource<IActorRef> _actor = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal void Set(IActorRef actor) => _actor.TrySetResult(actor);
        public Task<IActorRef> Actor => _actor.Task;
    }

    public sealed record SetContent(ulong Node, string Text);
    public sealed record MoveName(string From, string To);
    public sealed record InvalidateInode(ulong Node, long Offset = 0, long Length = 0);
    public sealed record InvalidateEntry(string Name);
    public sealed record Delete(ulong Node, string Name);

    private readonly Handle _handle;
    private readonly Dictionary<FileName, ulong> _names = new() { ["data"] = 2, ["other"] = 3 };
    private readonly Dictionary<ulong, byte[]> _content = new() { [2] = "old\n"u8.ToArray(), [3] = "other\n"u8.ToArray() };

    public ChangingFs(Handle handle) => _handle = handle;

    public static Props Props(Handle handle) => Akka.Actor.Props.Create(() => new ChangingFs(handle));

    protected override void PreStart() => _handle.Set(Self);

    private FuseAttr Attr(ulong node) => node == 1
        ? new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 }
        : new FuseAttr { Ino = node, Mode = ModeBits.Regular | 0x1A4, Nlink = 1, Size = (ulong)_content[node].Length };

    protected override void Lookup(LookupRequest r)
    {
        if (r.NodeId == 1 && _names.TryGetValue(r.Name, out var node))
            r.Reply(new Entry { NodeId = node, Attr = Attr(node), EntryTimeout = Long, AttrTimeout = Long });
        else r.Fail(Errno.ENOENT);
    }

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId), Long);

    protected override void Open(OpenRequest r) => r.Reply(0, FopenFlags.KeepCache);

    protected override void Read(ReadRequest r)
    {
        var data = _content[r.NodeId];
        int start = (int)Math.Min(r.Offset, (ulong)data.Length);
        r.Reply(data.AsMemory(start, Math.Min(data.Length - start, (int)r.Size)));
    }

    protected override void Flush(FlushRequest r) => r.Reply();

    protected override void OnOtherMessage(object message)
    {
        switch (message)
        {
            case SetContent m:
                _content[m.Node] = Encoding.UTF8.GetBytes(m.Text);
                Sender.Tell(true);
                break;
            case MoveName m:
                var node = _names[m.From];
                _names.Remove(m.From);
                _names[m.To] = node;
                Sender.Tell(true);
                break;
            case InvalidateInode m: Sender.Tell(NotifyInvalidateInode(m.Node, m.Offset, m.Length)); break;
            case InvalidateEntry m: Sender.Tell(NotifyInvalidateEntry(1, m.Name)); break;
            case Delete m: Sender.Tell(NotifyDelete(1, m.Node, m.Name)); break;
            default: Unhandled(message); break;
        }
    }
}
