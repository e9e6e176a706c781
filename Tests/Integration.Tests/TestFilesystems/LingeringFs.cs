using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// The test's hold on a <see cref="LingeringFs"/>: the work its LOOKUP of "linger" leaves on the thread that ran it
/// waits here until the test lets go (or a minute passes). Thread-safe.
/// </summary>
public sealed class Linger : IDisposable
{
    private readonly ManualResetEventSlim _release = new(false);
    private int _ended, _afterMailboxes;

    /// <summary>True once the work after the LOOKUP's reply has ended (let go, or a minute passed).</summary>
    public bool Ended => Volatile.Read(ref _ended) == 1;

    /// <summary>True if that work ran on the reader thread after the mailboxes (not in the handler instead).</summary>
    public bool RanAfterMailboxes => Volatile.Read(ref _afterMailboxes) == 1;

    /// <summary>Lets the work end. Safe to call more than once.</summary>
    public void Release() => _release.Set();

    public void Dispose() => Release();

    internal void Wait(bool afterMailboxes)
    {
        if (afterMailboxes) Volatile.Write(ref _afterMailboxes, 1);
        _release.Wait(TimeSpan.FromMinutes(1));
        Volatile.Write(ref _ended, 1);
    }
}

/// <summary>
/// A root with one file, "linger". Its LOOKUP is answered at once, and then the handler leaves work for its thread to
/// do after the mailboxes (<see cref="InlineDispatcher.RunAfterMailboxes"/>, where PassthroughFs closes descriptors)
/// that lasts until the test's <see cref="Linger"/> lets go: the reply must not wait for it.
/// </summary>
public sealed class LingeringFs(Linger linger) : FilesystemActor
{
    public const ulong FileNode = 2;

    public static Props Props(Linger linger) => Akka.Actor.Props.Create(() => new LingeringFs(linger));

    private static FuseAttr Attr(ulong node) => node == FileNode
        ? new FuseAttr { Ino = FileNode, Mode = ModeBits.Regular | 0x1A4, Nlink = 1 }
        : new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId));

    protected override void Lookup(LookupRequest r)
    {
        if (r.NodeId != 1 || r.Name.ToUtf8String() != "linger")
        {
            r.Fail(Errno.ENOENT);
            return;
        }
        // Cached for a minute: no GETATTR of it goes to the queue whose thread the work below holds.
        r.Reply(new Entry { NodeId = FileNode, Attr = Attr(FileNode), EntryTimeout = TimeSpan.FromMinutes(1), AttrTimeout = TimeSpan.FromMinutes(1) });
        if (!InlineDispatcher.RunAfterMailboxes(_ => linger.Wait(afterMailboxes: true), 0))
            linger.Wait(afterMailboxes: false); // not on a reader thread: this handler keeps its thread instead
    }
}
