using FuseActors.Filesystems.Interop;
using System.Runtime.InteropServices;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// A device that registers backing files the way /dev/fuse does (ids from 1, or a chosen errno) and records every
/// BACKING_OPEN (with the path the descriptor stands for) and BACKING_CLOSE.
/// </summary>
internal sealed class RecordingPassthroughDevice : IFuseDevice, IPassthroughDevice
{
    private int _next = 1;
    public List<(int Id, string Path)> Opened { get; } = new();
    public List<int> Closed { get; } = new();
    /// <summary>When set, BACKING_OPEN fails with it.</summary>
    public Errno? Refuse { get; set; }
    public HashSet<int> Live { get; } = new();

    public int OpenBacking(int fd)
    {
        if (Refuse is { } e) return -(int)e;
        // The kernel takes a reference to the file; an O_PATH or closed descriptor would not be one.
        var path = File.ResolveLinkTarget($"/proc/self/fd/{fd}", false)?.FullName ?? "";
        var flags = File.ReadAllLines($"/proc/self/fdinfo/{fd}").First(l => l.StartsWith("flags:"));
        Assert.False((Convert.ToInt32(flags[6..].Trim(), 8) & 0x200000) != 0, "BACKING_OPEN needs a real open, not O_PATH");
        int id = _next++;
        Opened.Add((id, path));
        Live.Add(id);
        return id;
    }

    public int CloseBacking(int backingId)
    {
        Closed.Add(backingId);
        return Live.Remove(backingId) ? 0 : -(int)Errno.EINVAL;
    }

    public int Read(Span<byte> buffer) => -(int)Errno.ENODEV;
    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => head.Length + payload.Length;
    public string Name => "recording passthrough device";
    public void Dispose() { }
}

/// <summary>
/// Kernel passthrough decisions of PassthroughFs, request by request against a recording device: which opens reply
/// FOPEN_PASSTHROUGH, with which backing id, when ids are registered and closed, and when the plain path is used.
/// The kernel's rules they follow: all concurrent passthrough opens of one inode use one backing file, and an inode
/// is never open cached and in passthrough at once (either mistake fails the caller's open with EIO).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughKernelPassthroughUnitTests : PassthroughTestKit
{
    private readonly RecordingPassthroughDevice _device = new();

    public PassthroughKernelPassthroughUnitTests()
    {
        Device = _device;
        Protocol = new NegotiatedProtocol { Passthrough = true };
    }

    private FuseOpenOut OpenOut(ulong node, OpenFlags flags) => Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { Flags = flags }, node)));

    private (FuseEntryOut Entry, FuseOpenOut Open) CreateOut(ulong parent, string name)
    {
        var p = Payload(Ok(new CreateRequest { Name = name, Mode = S_IFREG | 0x1A4, Flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive | (OpenFlags)0x8000 /* O_LARGEFILE on x86-64 */, Umask = 0x12 }, parent));
        return (Decode<FuseEntryOut>(p), Decode<FuseOpenOut>(p, Marshal.SizeOf<FuseEntryOut>()));
    }

    private static bool IsPassthrough(FuseOpenOut o) => ((FopenFlags)o.OpenFlags & FopenFlags.Passthrough) != 0;

    [Fact]
    public void Concurrent_opens_of_one_inode_share_one_backing_id_and_the_last_release_closes_it()
    {
        var (e, created) = CreateOut(Root, "f");
        Assert.True(IsPassthrough(created));
        Assert.Equal(1, created.BackingId);
        Assert.Equal([(1, InSource("f"))], _device.Opened);

        var ro = OpenOut(e.NodeId, 0 /* O_RDONLY */);
        var link = Link(e.NodeId, Root, "hard"); // a hard link is the same node, so the same kernel inode
        Assert.Equal(e.NodeId, link.NodeId);
        var rw = OpenOut(e.NodeId, OpenFlags.ReadWrite);
        Assert.True(IsPassthrough(ro) && IsPassthrough(rw));
        Assert.Equal(1, ro.BackingId);
        Assert.Equal(1, rw.BackingId);
        Assert.Single(_device.Opened);
        Assert.Equal((1, 3, 0), Actor.IoModeOf(e.NodeId));

        Release(e.NodeId, created.Fh);
        Release(e.NodeId, ro.Fh);
        Assert.Empty(_device.Closed);
        Release(e.NodeId, rw.Fh);
        Assert.Equal([1], _device.Closed);
        Assert.Equal((0, 0, 0), Actor.IoModeOf(e.NodeId));

        // The next open registers afresh; another inode gets its own id.
        Assert.Equal(2, OpenOut(e.NodeId, 0).BackingId);
        Assert.Equal(3, CreateOut(Root, "g").Open.BackingId);
    }

    [Fact]
    public void A_refused_backing_file_falls_back_to_the_daemon_and_keeps_the_inode_cached_until_its_last_release()
    {
        File.WriteAllText(InSource("f"), "data");
        var f = Lookup(Root, "f").NodeId;
        _device.Refuse = Errno.ELOOP; // e.g. a host file on a filesystem stacked too deep
        var first = OpenOut(f, OpenFlags.ReadWrite);
        Assert.False(IsPassthrough(first));
        Assert.Equal(0, first.BackingId);
        Assert.Equal("data"u8.ToArray(), Read(f, first.Fh, 0, 100)); // the plain path works

        // The kernel would refuse a passthrough open now (the inode is in cached mode): no second attempt.
        _device.Refuse = null;
        var second = OpenOut(f, 0);
        Assert.False(IsPassthrough(second));
        Assert.Empty(_device.Opened);
        Assert.Equal((0, 0, 2), Actor.IoModeOf(f));

        Release(f, first.Fh);
        Release(f, second.Fh);
        Assert.True(IsPassthrough(OpenOut(f, 0)));
        Assert.Single(_device.Opened);
    }

    [Fact]
    public void Without_cap_sys_admin_the_first_refusal_turns_passthrough_off_for_the_whole_mount()
    {
        _device.Refuse = Errno.EPERM;
        Assert.False(IsPassthrough(CreateOut(Root, "a").Open));
        _device.Refuse = null; // would work now, but EPERM is connection-wide: nothing more is asked
        Assert.False(IsPassthrough(CreateOut(Root, "b").Open));
        Assert.Empty(_device.Opened);
    }

    [Fact]
    public void Passthrough_is_only_offered_when_negotiated_and_never_for_directories()
    {
        Protocol = new NegotiatedProtocol { Passthrough = false };
        Assert.False(IsPassthrough(CreateOut(Root, "a").Open));
        Protocol = null;
        Assert.False(IsPassthrough(CreateOut(Root, "b").Open));
        Protocol = new NegotiatedProtocol { Passthrough = true };
        var d = MkDir(Root, "d").NodeId;
        var dir = Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { IsDirectory = true }, d)));
        Assert.False(IsPassthrough(dir));
        Assert.Empty(_device.Opened);
    }

    [Fact]
    public void An_o_direct_open_the_host_accepts_is_passed_through()
    {
        File.WriteAllBytes(InSource("f"), new byte[8192]);
        var f = Lookup(Root, "f").NodeId;
        // The host (ext4/tmpfs) takes O_DIRECT, so the kernel's own O_DIRECT open of the backing file will work too.
        var o = OpenOut(f, OpenFlags.ReadWrite | OpenFlagsExtensions.Direct);
        Assert.True(IsPassthrough(o));
        Release(f, o.Fh);
    }

    [Fact]
    public void Destroy_drops_every_backing_id_still_held()
    {
        var a = CreateOut(Root, "a").Entry.NodeId;
        CreateOut(Root, "b");
        OpenOut(a, 0);
        Ok(new DestroyRequest(), Root);
        Assert.Equal([1, 2], _device.Closed.Order());
        Assert.Empty(_device.Live);
        Assert.Equal(0, Actor.OpenHandleCount);
    }
}

/// <summary>KernelPassthrough = false: the plain path even where the connection negotiated passthrough.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughKernelPassthroughOffUnitTests() : PassthroughTestKit(new PassthroughOptions { KernelPassthrough = false })
{
    [Fact]
    public void Opens_take_the_daemon_path_and_register_nothing()
    {
        var device = new RecordingPassthroughDevice();
        Device = device;
        Protocol = new NegotiatedProtocol { Passthrough = true };
        var p = Payload(Ok(new CreateRequest { Name = "f", Mode = S_IFREG | 0x1A4, Flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive | (OpenFlags)0x8000 /* O_LARGEFILE on x86-64 */ }, Root));
        var open = Decode<FuseOpenOut>(p, Marshal.SizeOf<FuseEntryOut>());
        Assert.Equal(FopenFlags.None, (FopenFlags)open.OpenFlags & FopenFlags.Passthrough);
        Assert.Empty(device.Opened);
    }
}
