using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// One file, "data", whose opens hand their I/O to a host file through kernel passthrough (FOPEN_PASSTHROUGH).
/// READ and WRITE answer EIO: if a program can read and write the file, the kernel did the I/O itself.
/// </summary>
public sealed class BackedFileFs : FilesystemActor
{
    private readonly string _hostFile;
    private readonly Dictionary<ulong, (int Fd, int BackingId)> _opens = new();
    private ulong _nextFh = 1;

    public BackedFileFs(string hostFile) => _hostFile = hostFile;

    public static Props Props(string hostFile) => Akka.Actor.Props.Create<BackedFileFs>(hostFile);

    private FuseAttr Attr(ulong node) => node == 1
        ? new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 }
        : new FuseAttr { Ino = 2, Mode = ModeBits.Regular | 0x1B6, Nlink = 1, Size = (ulong)new FileInfo(_hostFile).Length };

    protected override void Lookup(LookupRequest r)
    {
        if (r.NodeId == 1 && r.Name == "data") r.Reply(new Entry { NodeId = 2, Attr = Attr(2), AttrTimeout = TimeSpan.Zero });
        else r.Fail(Errno.ENOENT);
    }

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId), TimeSpan.Zero);

    protected override void Open(OpenRequest r)
    {
        if (!r.CanPassthrough()) { r.Fail(Errno.EOPNOTSUPP); return; }
        int fd = OpenHost(_hostFile, (int)(r.Flags & OpenFlags.AccessModeMask));
        if (fd < 0) { r.Fail((Errno)Tmds.Linux.LibC.errno); return; }
        int id = r.OpenBackingFile(fd);
        if (id <= 0) { Tmds.Linux.LibC.close(fd); r.Fail((Errno)(-id)); return; }
        var fh = _nextFh++;
        _opens[fh] = (fd, id);
        r.Reply(fh, FopenFlags.Passthrough, id);
    }

    protected override void Release(ReleaseRequest r)
    {
        if (_opens.Remove(r.Fh, out var o))
        {
            r.CloseBackingFile(o.BackingId);
            Tmds.Linux.LibC.close(o.Fd);
        }
        r.Reply();
    }

    private static unsafe int OpenHost(string path, int flags)
    {
        fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0")) return Tmds.Linux.LibC.open(p, flags);
    }

    protected override void Read(ReadRequest r) => r.Fail(Errno.EIO);
    protected override void Write(WriteRequest r) => r.Fail(Errno.EIO);
}
