using Akka.Actor;
using FuseActors.Actors.Filesystem;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// The test's hold on a <see cref="GatedReadFs"/>: which node's READs are held back, how many are held, and the call
/// that lets them through. Thread-safe: the test uses it while the mount runs.
/// </summary>
public sealed class ReadGate : IDisposable
{
    private long _node;
    private long _watched;
    private int _held;
    private int _releases;
    private volatile IActorRef? _fs;

    /// <summary>Holds back every READ of <paramref name="nodeId"/> from now on, until <see cref="Open"/>.</summary>
    public void Hold(ulong nodeId)
    {
        Interlocked.Exchange(ref _watched, (long)nodeId);
        Interlocked.Exchange(ref _node, (long)nodeId);
    }

    /// <summary>READs held back right now.</summary>
    public int Held => Volatile.Read(ref _held);

    /// <summary>RELEASEs of the held node (also after <see cref="Open"/>): each is the host's last close of one open of it.</summary>
    public int Releases => Volatile.Read(ref _releases);

    /// <summary>Lets every held READ (and every later one) through. Safe to call more than once.</summary>
    public void Open()
    {
        Interlocked.Exchange(ref _node, 0);
        _fs?.Tell(GatedReadFs.LetThrough.Instance);
    }

    /// <summary>Opens the gate: declared after the mount that reads through it (<c>using var _ = gate;</c>), it opens
    /// before that mount is unmounted, so a failing test does not unmount while a read is still held.</summary>
    public void Dispose() => Open();

    internal bool Holds(ulong nodeId) => nodeId != 0 && (ulong)Interlocked.Read(ref _node) == nodeId;
    internal void NoteRelease(ulong nodeId)
    {
        if (nodeId != 0 && (ulong)Interlocked.Read(ref _watched) == nodeId) Interlocked.Increment(ref _releases);
    }
    internal void Attach(IActorRef fs) => _fs = fs;
    internal void SetHeld(int count) => Volatile.Write(ref _held, count);
}

/// <summary>
/// Forwards every request to the real filesystem actor (its child), except the READs of the node the
/// <see cref="ReadGate"/> holds: those wait, unanswered, until the test opens the gate. A stand-in for a host
/// filesystem whose server stalls on one file (a hung NFS export) while the rest of it answers.
/// </summary>
public sealed class GatedReadFs : WrappingFs
{
    internal sealed class LetThrough
    {
        public static readonly LetThrough Instance = new();
    }

    private readonly ReadGate _gate;
    private readonly List<(FsRequest Request, IActorRef Sender)> _held = new();

    public GatedReadFs(Props inner, ReadGate gate) : base(inner, "gated")
    {
        _gate = gate;
        gate.Attach(Self);
    }

    public static Props Props(Props inner, ReadGate gate) => Akka.Actor.Props.Create<GatedReadFs>(inner, gate);

    protected override bool Intercept(object message)
    {
        switch (message)
        {
            case ReadRequest r when _gate.Holds(r.NodeId):
                _held.Add((r, Sender));
                _gate.SetHeld(_held.Count);
                return true;
            case ReleaseRequest r:
                _gate.NoteRelease(r.NodeId);
                return false;
            case LetThrough:
                foreach (var (r, sender) in _held) Inner.Tell(r, sender);
                _held.Clear();
                _gate.SetHeld(0);
                return true;
            default:
                return false;
        }
    }
}
