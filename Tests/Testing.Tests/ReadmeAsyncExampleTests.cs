// The asynchronous filesystem of README.md's "A filesystem whose backend is another actor", verbatim (from `using`
// to the end of NotesFs): if it stops compiling or passing, the README is wrong.
using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Testing.Tests;

public sealed record GetNote(FileName Name);   // a name is bytes: keep it so
public sealed record Note(byte[]? Text);   // null: no such note

public sealed class NotesFs(IActorRef store) : FilesystemActor
{
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(5);
    private readonly Dictionary<FileName, ulong> _nodes = new();   // touched only inside the actor
    private readonly Dictionary<ulong, FileName> _names = new();

    private static FuseAttr Attr(ulong node, int size) => node == 1
        ? new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x16D, Nlink = 2 }
        : new FuseAttr { Ino = node, Mode = ModeBits.Regular | 0x124, Nlink = 1, Size = (ulong)size };

    protected override void Lookup(LookupRequest r) => HandleAsync(r, async ct =>
    {
        var note = await store.Ask<Note>(new GetNote(r.Name), StoreTimeout, ct);
        if (note.Text is null) { r.Fail(Errno.ENOENT); return; }
        // Back inside the actor after the await: its state is safe to touch here.
        if (!_nodes.TryGetValue(r.Name, out var node))
        {
            _nodes[r.Name] = node = (ulong)_nodes.Count + 2;
            _names[node] = r.Name;
        }
        r.Reply(new Entry { NodeId = node, Attr = Attr(node, note.Text.Length) });
    });

    protected override void GetAttr(GetAttrRequest r)
    {
        if (r.NodeId == 1) { r.Reply(Attr(1, 0)); return; }   // answered at once
        HandleAsync(r, async ct =>
        {
            var note = await store.Ask<Note>(new GetNote(_names[r.NodeId]), StoreTimeout, ct);
            r.Reply(Attr(r.NodeId, note.Text?.Length ?? throw new FuseErrnoException(Errno.ENOENT)));
        });
    }

    protected override void Read(ReadRequest r) => HandleAsync(r, async ct =>
    {
        var note = await store.Ask<Note>(new GetNote(_names[r.NodeId]), StoreTimeout, ct);
        var text = note.Text ?? throw new FuseErrnoException(Errno.ENOENT);
        int start = (int)Math.Min(r.Offset, (ulong)text.Length);
        r.Reply(text.AsMemory(start, Math.Min(text.Length - start, (int)r.Size)));
    });
}

/// <summary>A store that answers a little later, as a remote one would.</summary>
public sealed class SlowNoteStore : ReceiveActor
{
    public SlowNoteStore(Dictionary<FileName, string> notes) => Receive<GetNote>(get =>
        Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(20), Sender,
            new Note(notes.TryGetValue(get.Name, out var text) ? System.Text.Encoding.UTF8.GetBytes(text) : null), Self));
}

public sealed class ReadmeAsyncExampleTests : FilesystemTestKit
{
    [Fact]
    public async Task NotesFs_serves_notes_from_a_store_actor()
    {
        var notes = new Dictionary<FileName, string> { ["todo"] = "write the cluster\n" };
        var store = Sys.ActorOf(Props.Create<SlowNoteStore>(notes));
        await using var fs = await ServeAsync(Props.Create<NotesFs>(store));
        Assert.Equal("write the cluster\n", await fs.Files.ReadAllTextAsync("todo"));
        var missing = await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Files.ReadAllTextAsync("nothing"));
        Assert.Equal(Errno.ENOENT, missing.Errno);
    }
}
