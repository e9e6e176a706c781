using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>Kernel-side requests for the device tests.</summary>
internal static class Rq
{
    public static readonly FuseCaller Alice = new(1000, 1000, 4242);

    public static VirtualRequest GetAttr(ulong node = 1) =>
        new(Opcode.GetAttr, node, Wire.Bytes(new FuseGetAttrIn()));

    public static VirtualRequest Lookup(ulong parent, string name) =>
        new(Opcode.Lookup, parent, Wire.CString(name));

    public static VirtualRequest Release(ulong node, ulong fh) =>
        new(Opcode.Release, node, Wire.Bytes(new FuseReleaseIn { Fh = fh }));

    public static VirtualRequest Read(ulong node, ulong fh, uint size) =>
        new(Opcode.Read, node, Wire.Bytes(new FuseReadIn { Fh = fh, Size = size }));

    public static VirtualRequest Write(ulong node, ulong fh, byte[] data) =>
        new(Opcode.Write, node, Wire.Build().Struct(new FuseWriteIn { Fh = fh, Size = (uint)data.Length }).Raw(data).ToArray());

    public static VirtualRequest SetXAttr(ulong node, string name, byte[] value) =>
        new(Opcode.SetXAttr, node, Wire.Build().StructPrefix(new FuseSetXAttrIn { Size = (uint)value.Length }, 8).Name(name).Raw(value).ToArray());

    public static VirtualRequest Create(ulong parent, string name) =>
        new(Opcode.Create, parent, Wire.Build().Struct(new FuseCreateIn { Flags = 0x42, Mode = Posix.S_IFREG | 0x1A4 }).Name(name).ToArray());

    public static VirtualRequest Open(ulong node) =>
        new(Opcode.Open, node, Wire.Bytes(new FuseOpenIn { Flags = 2 }));
}

/// <summary>Common set-up: a device, a scripted daemon, INIT done.</summary>
public abstract class VirtualDeviceTestBase : IDisposable
{
    private readonly List<VirtualDevice> _devices = [];

    internal (VirtualDevice Device, FakeDaemon Daemon) Start(int maxOutstanding = 10, uint maxWrite = 65536,
        InitFlags flags = InitFlags.AsyncRead | InitFlags.BigWrites | InitFlags.MaxPages, TimeProvider? time = null, bool init = true)
    {
        var d = new VirtualDevice(new VirtualDeviceOptions { MaxOutstanding = maxOutstanding, TimeProvider = time ?? TimeProvider.System });
        _devices.Add(d);
        var daemon = new FakeDaemon(d);
        if (init)
        {
            daemon.Init(maxWrite, flags: flags);
            Assert.Equal(VirtualDeviceState.Initialized, d.State);
        }
        return (d, daemon);
    }

    /// <summary>Looks a node up through the device (the daemon answers with <paramref name="nodeId"/>).</summary>
    internal static ulong LookupNode(VirtualDevice d, FakeDaemon daemon, ulong nodeId, string name = "f", uint mode = Posix.S_IFREG | 0x1A4)
    {
        var t = d.SendAsync(Rq.Lookup(1, name), Rq.Alice);
        var r = daemon.Read(Opcode.Lookup);
        daemon.ReplyEntry(r.Unique, nodeId, mode);
        Assert.True(t.Done().IsOk);
        return nodeId;
    }

    internal static void AssertQuiescent(VirtualDevice d)
    {
        var s = d.Stats();
        Assert.Equal(s.MaxOutstanding, s.Credit);
        Assert.Equal(0, s.Debt);
        Assert.Equal(0, s.Pending);
        Assert.Equal(0, s.Processing);
        Assert.Equal(0, s.Background);
        Assert.Equal(0, s.BackgroundReferences);
        Assert.Equal(0, s.NodeReferences);
        Assert.Equal(0, s.WaitingForCredit);
    }

    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
        GC.SuppressFinalize(this);
    }
}
