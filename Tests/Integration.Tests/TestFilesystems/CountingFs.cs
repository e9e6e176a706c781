using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>How many requests of each opcode reached the filesystem, and the largest READ (thread-safe: the test reads
/// while the mount runs).</summary>
public sealed class RequestCounts
{
    private readonly int[] _counts = new int[256];
    private long _largestRead;

    public void Add(Opcode op) => Interlocked.Increment(ref _counts[(int)op & 0xFF]);
    public int this[Opcode op] => Volatile.Read(ref _counts[(int)op & 0xFF]);

    /// <summary>The most bytes one READ asked for: how the kernel split the reads (readahead, max_pages).</summary>
    public long LargestRead => Interlocked.Read(ref _largestRead);

    public void AddRead(uint size)
    {
        long seen;
        while (size > (seen = Interlocked.Read(ref _largestRead)) && Interlocked.CompareExchange(ref _largestRead, size, seen) != seen) { }
    }

    public override string ToString() =>
        string.Join(", ", Enum.GetValues<Opcode>().Distinct().Where(o => this[o] > 0).Select(o => $"{o}={this[o]}"));
}

/// <summary>
/// Counts every request by opcode and forwards it, sender and all, to the real filesystem actor (its child), which
/// answers the request itself. Lets a real-mount test see which requests the kernel sent to the daemon.
/// </summary>
public sealed class CountingFs : WrappingFs
{
    private readonly RequestCounts _counts;

    public CountingFs(Props inner, RequestCounts counts) : base(inner, "counted") => _counts = counts;

    public static Props Props(Props inner, RequestCounts counts) => Akka.Actor.Props.Create<CountingFs>(inner, counts);

    protected override bool Intercept(object message)
    {
        if (message is FsRequest r) _counts.Add(r.Opcode);
        if (message is ReadRequest read) _counts.AddRead(read.Size);
        return false; // counted, and forwarded all the same
    }
}
