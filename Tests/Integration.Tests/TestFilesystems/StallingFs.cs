using System.Text;
using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// A tiny read-only filesystem with two files: "fast" answers reads at once, "slow" never answers a read.
/// With <c>honourCancellation</c> the stalled read is answered EINTR as soon as its caller is interrupted;
/// without it the filesystem ignores the interrupt entirely, and only the engine's interrupt grace frees the caller.
/// </summary>
public sealed class StallingFs : FilesystemActor
{
    public const ulong FastNode = 2, SlowNode = 3;
    public static readonly byte[] FastContent = Encoding.ASCII.GetBytes("fast file\n");
    private readonly bool _honourCancellation;
    private readonly bool _directIo;
    private readonly List<ReadRequest> _stalled = new();

    /// <param name="honourCancellation">Answer EINTR when the stalled read's caller is interrupted.</param>
    /// <param name="directIo">Open "slow" with FOPEN_DIRECT_IO, so reads are synchronous requests the kernel interrupts
    /// (page-cache readahead and async O_DIRECT reads are background requests, which the kernel never interrupts).</param>
    public StallingFs(bool honourCancellation, bool directIo)
    {
        _honourCancellation = honourCancellation;
        _directIo = directIo;
    }

    public static Props Props(bool honourCancellation, bool directIo = true) => Akka.Actor.Props.Create<StallingFs>(honourCancellation, directIo);

    protected override void Open(OpenRequest r) => r.Reply(0, r.NodeId == SlowNode && _directIo ? FopenFlags.DirectIo : 0);

    /// <summary>Number of reads currently stalled (ask with <see cref="CountStalled"/>).</summary>
    public sealed record CountStalled;

    private static FuseAttr Attr(ulong node) => node switch
    {
        1 => new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 },
        FastNode => new FuseAttr { Ino = FastNode, Mode = ModeBits.Regular | 0x1A4, Nlink = 1, Size = (ulong)FastContent.Length },
        _ => new FuseAttr { Ino = SlowNode, Mode = ModeBits.Regular | 0x1A4, Nlink = 1, Size = 4096 },
    };

    protected override void Lookup(LookupRequest r)
    {
        ulong node = r.NodeId == 1 ? r.Name.ToUtf8String() switch { "fast" => FastNode, "slow" => SlowNode, _ => 0UL } : 0;
        if (node == 0) r.Fail(Errno.ENOENT);
        else r.Reply(new Entry { NodeId = node, Attr = Attr(node) });
    }

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId));

    protected override void ReadDir(ReadDirRequest r)
    {
        if (r.Offset < 1) r.TryAdd("fast", FastNode, ModeBits.Regular, 1);
        if (r.Offset < 2) r.TryAdd("slow", SlowNode, ModeBits.Regular, 2);
        r.Reply();
    }

    protected override void Read(ReadRequest r)
    {
        if (r.NodeId == FastNode)
        {
            var data = r.Offset >= (ulong)FastContent.Length ? ReadOnlyMemory<byte>.Empty : FastContent.AsMemory((int)r.Offset);
            r.Reply(data.Length > r.Size ? data[..(int)r.Size] : data);
            return;
        }
        r.Defer();
        _stalled.Add(r);
        if (_honourCancellation)
            r.Cancellation.Register(() => r.Fail(Errno.EINTR));
    }

    protected override void OnOtherMessage(object message)
    {
        if (message is CountStalled)
        {
            _stalled.RemoveAll(x => x.IsReplied);
            Sender.Tell(_stalled.Count);
        }
        else Unhandled(message);
    }
}
