using System.Runtime.InteropServices;
using System.Text;
using Akka.Actor;
using Akka.TestKit;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Tests;

/// <summary>One decoded READDIR / READDIRPLUS record.</summary>
public sealed record DirRecord(string Name, ulong Ino, ulong Off, uint Type, FuseEntryOut? Plus)
{
    /// <summary>The name's exact bytes (<see cref="Name"/> is their UTF-8 decoding, for text names).</summary>
    public byte[] NameBytes { get; init; } = [];
}

/// <summary>
/// Drives a filesystem actor the way the connection does: builds typed requests (header, reply target, fields),
/// tells them to the actor, takes the same request object back and decodes its reply payload with the engine's own
/// encoder. The actor runs as a TestActorRef (synchronously, on the test thread) so tests can also look at its
/// internal state. Each filesystem's kit adds how to make its actor and its own helpers.
/// </summary>
public abstract class FilesystemUnitTestKit<TActor> : Akka.TestKit.Xunit2.TestKit where TActor : ActorBase
{
    protected const ulong Root = FuseConstants.RootId;
    protected const uint S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFLNK = 0xA000, S_IFIFO = 0x1000, S_IFCHR = 0x2000;

    protected readonly NegotiatedProtocol Settings = new();
    private readonly byte[] _scratch = new byte[2 << 20];
    private readonly uint _callerUid;
    private readonly uint _callerGid;
    private ulong _unique;

    /// <param name="callerUid">The uid of the calling process on requests that do not name one.</param>
    /// <param name="callerGid">Its gid.</param>
    protected FilesystemUnitTestKit(uint callerUid, uint callerGid) : base("akka.loglevel = ERROR")
    {
        _callerUid = callerUid;
        _callerGid = callerGid;
    }

    /// <summary>The actor under test; set by the filesystem's kit in its constructor.</summary>
    protected TestActorRef<TActor> Fs { get; init; } = null!;

    protected TActor Actor => Fs.UnderlyingActor;

    /// <summary>What the device reader stamps on every request: the device it came from and the negotiated protocol
    /// (null: no device, nothing negotiated).</summary>
    protected IFuseDevice? Device { get; set; }
    protected NegotiatedProtocol? Protocol { get; set; }

    // ------------------------------------------------------------ raw calls

    protected void Send(FsRequest r, ulong node, uint? uid = null, uint? gid = null)
    {
        // Even uniques, as the kernel hands them out.
        r.Header = new FuseInHeader { Unique = ++_unique * 2, NodeId = node, Uid = uid ?? _callerUid, Gid = gid ?? _callerGid, Pid = 4242 };
        r.ReplyTo = TestActor;
        r.Device = Device;
        r.Protocol = Protocol;
        Fs.Tell(r);
    }

    /// <summary>Sends and waits for the same request to come back answered.</summary>
    protected T Call<T>(T r, ulong node, uint? uid = null, uint? gid = null) where T : FsRequest
    {
        Send(r, node, uid, gid);
        var back = ExpectMsg<FsRequest>(TimeSpan.FromSeconds(5));
        Assert.Same(r, back);
        return r;
    }

    protected T Ok<T>(T r, ulong node, uint? uid = null, uint? gid = null) where T : FsRequest
    {
        Call(r, node, uid, gid);
        Assert.True(r.Error == Errno.Ok, $"{r} failed with {r.Error}");
        return r;
    }

    protected Errno Err(FsRequest r, ulong node, uint? uid = null, uint? gid = null) => Call(r, node, uid, gid).Error;

    protected byte[] Payload(FsRequest r) => r.EncodeReply(_scratch, Settings).ToArray();

    protected static T Decode<T>(byte[] payload, int offset = 0) where T : unmanaged =>
        MemoryMarshal.Read<T>(payload.AsSpan(offset));

    // ------------------------------------------------------------ typed helpers

    protected FuseEntryOut EntryOf(EntryRequest r) => Decode<FuseEntryOut>(Payload(r));

    protected FuseEntryOut Lookup(ulong parent, FileName name) => EntryOf(Ok(new LookupRequest { Name = name }, parent));
    protected Errno LookupError(ulong parent, FileName name) => Err(new LookupRequest { Name = name }, parent);

    protected (FuseEntryOut Entry, ulong Fh) Create(ulong parent, FileName name, uint mode = S_IFREG | 0x1A4, uint? uid = null, uint? gid = null,
        OpenFlags flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive | (OpenFlags)0x8000 /* O_LARGEFILE on x86-64 */)
    {
        var r = Ok(new CreateRequest { Name = name, Mode = mode, Flags = flags, Umask = 0x12 }, parent, uid, gid);
        var p = Payload(r);
        return (Decode<FuseEntryOut>(p), Decode<FuseOpenOut>(p, Marshal.SizeOf<FuseEntryOut>()).Fh);
    }

    protected FuseEntryOut MkDir(ulong parent, FileName name, uint mode = 0x1ED, uint? uid = null, uint? gid = null) =>
        EntryOf(Ok(new MkDirRequest { Name = name, Mode = mode }, parent, uid, gid));

    protected FuseEntryOut MkNod(ulong parent, FileName name, uint mode = S_IFREG | 0x1A4, uint rdev = 0) =>
        EntryOf(Ok(new MkNodRequest { Name = name, Mode = mode, Rdev = rdev }, parent));

    protected FuseEntryOut Symlink(ulong parent, FileName name, string target) =>
        EntryOf(Ok(new SymlinkRequest { Name = name, Target = Encoding.UTF8.GetBytes(target) }, parent));

    protected FuseEntryOut Link(ulong node, ulong newParent, FileName newName) =>
        EntryOf(Ok(new LinkRequest { OldNodeId = node, NewName = newName }, newParent));

    protected FuseAttr GetAttr(ulong node) => Decode<FuseAttrOut>(Payload(Ok(new GetAttrRequest(), node))).Attr;
    protected Errno GetAttrError(ulong node) => Err(new GetAttrRequest(), node);

    protected FuseAttr SetAttr(ulong node, SetAttrRequest r) => Decode<FuseAttrOut>(Payload(Ok(r, node))).Attr;

    protected FuseAttr Truncate(ulong node, ulong size) =>
        SetAttr(node, new SetAttrRequest { Valid = SetAttrValid.Size, Size = size });

    protected ulong Open(ulong node, OpenFlags flags = OpenFlags.ReadWrite) =>
        Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { Flags = flags }, node))).Fh;

    protected ulong OpenDir(ulong node) =>
        Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { IsDirectory = true }, node))).Fh;

    protected void Release(ulong node, ulong fh, bool dir = false) => Ok(new ReleaseRequest { Fh = fh, IsDirectory = dir }, node);

    protected uint Write(ulong node, ulong fh, ulong offset, byte[] data) =>
        Decode<FuseWriteOut>(Payload(Ok(new WriteRequest { Fh = fh, Offset = offset, Data = data }, node))).Size;

    protected Errno WriteError(ulong node, ulong fh, ulong offset, byte[] data) =>
        Err(new WriteRequest { Fh = fh, Offset = offset, Data = data }, node);

    protected byte[] Read(ulong node, ulong fh, ulong offset, uint size)
    {
        var r = Ok(new ReadRequest { Fh = fh, Offset = offset, Size = size }, node);
        var bytes = Payload(r);
        Assert.True(bytes.Length <= size);
        r.ReleaseBuffers(); // what the engine does after writing the reply (returns the pooled buffer)
        return bytes;
    }

    protected Errno Unlink(ulong parent, FileName name) => Err(new UnlinkRequest { Name = name }, parent);
    protected Errno RmDir(ulong parent, FileName name) => Err(new RmDirRequest { Name = name }, parent);

    protected Errno Rename(ulong parent, FileName name, ulong newParent, FileName newName, RenameFlags flags = 0) =>
        Err(new RenameRequest { Name = name, NewDir = newParent, NewName = newName, Flags = flags }, parent);

    /// <summary>FORGETs are never answered: follow with a request that is, so the forget has been processed.</summary>
    protected void Forget(params (ulong Node, ulong Count)[] items)
    {
        var arr = items.Select(i => new FuseForgetOne { NodeId = i.Node, NLookup = i.Count }).ToArray();
        Send(new ForgetRequest { Items = arr, Count = arr.Length }, 0);
        GetAttr(Root);
    }

    protected List<DirRecord> ReadDir(ulong dir, ulong fh, ulong offset, uint size, bool plus = false)
    {
        var r = Ok(new ReadDirRequest { Fh = fh, Offset = offset, Size = size, IsPlus = plus }, dir);
        var buf = Payload(r);
        r.ReleaseBuffers();
        var list = new List<DirRecord>();
        int pos = 0;
        int headerLen = plus ? 152 : 24;
        while (pos < buf.Length)
        {
            FuseEntryOut? eo = plus ? Decode<FuseEntryOut>(buf, pos) : null;
            var d = Decode<FuseDirent>(buf, plus ? pos + 128 : pos);
            string name = Encoding.UTF8.GetString(buf, pos + headerLen, (int)d.NameLen);
            list.Add(new DirRecord(name, d.Ino, d.Off, d.Type, eo) { NameBytes = buf.AsSpan(pos + headerLen, (int)d.NameLen).ToArray() });
            pos += (headerLen + (int)d.NameLen + 7) & ~7;
        }
        Assert.Equal(buf.Length, pos);
        return list;
    }

    /// <summary>Lists a whole directory in pages of <paramref name="size"/> bytes, continuing from the last cookie.</summary>
    protected List<DirRecord> ReadDirAll(ulong dir, uint size = 4096, bool plus = false)
    {
        ulong fh = OpenDir(dir);
        var all = new List<DirRecord>();
        ulong offset = 0;
        while (true)
        {
            var page = ReadDir(dir, fh, offset, size, plus);
            if (page.Count == 0) break;
            all.AddRange(page);
            offset = page[^1].Off;
        }
        Release(dir, fh, dir: true);
        return all;
    }

    protected FuseKStatFs StatFs() => Decode<FuseKStatFs>(Payload(Ok(new StatFsRequest(), Root)));

    protected static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
