using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// A root with one file, "f", of up to 32 MiB held in an array, whose WRITE handler has the bug the engine must survive:
/// it takes <see cref="WriteRequest.LeaseData"/> and never disposes the lease. Everything else is plain: READ answers
/// from the array, so what was written can be compared.
/// </summary>
public sealed class LeaseLeftOpenFs : FilesystemActor
{
    public const ulong FileNode = 2;
    private const int Capacity = 32 << 20;
    private readonly byte[] _content = new byte[Capacity];
    private long _size;

    public static Props Props() => Akka.Actor.Props.Create(() => new LeaseLeftOpenFs());

    private FuseAttr Attr(ulong node) => node == FileNode
        ? new FuseAttr { Ino = FileNode, Mode = ModeBits.Regular | 0x1B6, Nlink = 1, Size = (ulong)_size, Blocks = (ulong)(_size + 511) / 512 }
        : new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1FF, Nlink = 2 };

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId), TimeSpan.Zero);

    protected override void SetAttr(SetAttrRequest r) => r.Reply(Attr(r.NodeId), TimeSpan.Zero); // (dd's truncation is left out)

    protected override void Lookup(LookupRequest r)
    {
        if (r.NodeId != 1 || r.Name.ToUtf8String() != "f")
        {
            r.Fail(Errno.ENOENT);
            return;
        }
        r.Reply(new Entry { NodeId = FileNode, Attr = Attr(FileNode) });
    }

    protected override void Read(ReadRequest r)
    {
        long offset = (long)Math.Min(r.Offset, (ulong)_size);
        int length = (int)Math.Min(r.Size, (ulong)(_size - offset));
        r.Reply(_content.AsMemory((int)offset, length));
    }

    protected override void Write(WriteRequest r)
    {
        if (r.Offset + r.Size > Capacity)
        {
            r.Fail(Errno.EFBIG);
            return;
        }
        var lease = r.LeaseData(); // the bug: no `using`, so the lease is never ended here
        lease.Span.CopyTo(_content.AsSpan((int)r.Offset));
        _size = Math.Max(_size, (long)r.Offset + lease.Span.Length);
        r.Reply(r.Size);
    }
}
