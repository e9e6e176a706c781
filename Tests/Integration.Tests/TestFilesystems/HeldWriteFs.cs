using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>What <see cref="HeldWriteFs"/> saw in the WRITEs it held (thread-safe: the test reads while the mount runs).</summary>
public sealed class HeldWrites
{
    private int _checked, _wrong;
    public int Checked => Volatile.Read(ref _checked);
    public int Wrong => Volatile.Read(ref _wrong);
    internal void Saw(bool right)
    {
        if (!right) Interlocked.Increment(ref _wrong);
        Interlocked.Increment(ref _checked);
    }
}

/// <summary>
/// Forwards everything to a real filesystem (its child) except large WRITEs, which it holds without looking at their
/// data until the engine has answered them (its request timeout) and a later WRITE has come: only then does it read
/// the data, as a filesystem that was slow would, and checks it. The test writes 1 MiB blocks each filled with one byte,
/// its number (block k at offset k MiB holds k + 1), so data read from a ring entry the kernel has meanwhile refilled
/// with a later block shows up as wrong.
/// </summary>
public sealed class HeldWriteFs : WrappingFs
{
    private readonly HeldWrites _seen;
    private readonly List<(WriteRequest Request, int Arrived)> _held = new();
    private int _writes;

    public HeldWriteFs(Props inner, HeldWrites seen) : base(inner, "inner")
    {
        _seen = seen;
        Context.System.Scheduler.ScheduleTellRepeatedly(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20), Self, Tick.Instance, Self);
    }

    public static Props Props(Props inner, HeldWrites seen) => Akka.Actor.Props.Create<HeldWriteFs>(inner, seen);

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    protected override bool Intercept(object message)
    {
        switch (message)
        {
            case WriteRequest w when w.Size >= 64 * 1024:
                _held.Add((w, ++_writes));
                return true;
            case Tick:
                for (int i = _held.Count - 1; i >= 0; i--)
                {
                    var (r, arrived) = _held[i];
                    if (!r.IsReplied || _writes <= arrived) continue;
                    byte expected = (byte)(r.Offset / (1 << 20) + 1);
                    var data = r.Data.Span;
                    _seen.Saw(data.Length == 1 << 20 && !data.ContainsAnyExcept(expected));
                    r.Fail(Errno.EIO); // ends it (a late reply: the kernel had its answer)
                    _held.RemoveAt(i);
                }
                return true;
            default:
                return false;
        }
    }
}
