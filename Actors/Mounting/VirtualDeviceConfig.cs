using Akka.Configuration;
using FuseActors.Engine.Virtual;

namespace FuseActors.Actors.Mounting;

/// <summary>Reads the kernel side's settings from <c>fuseactors.virtual-device</c>; missing keys take the embedded
/// defaults (<see cref="FuseActorsConfig.Default"/>: the seed's FUSE_MAX_OUTSTANDING of 10, protocol 7.45).</summary>
public static class VirtualDeviceConfig
{
    public static VirtualDeviceOptions FromConfig(Config root)
    {
        var d = new VirtualDeviceOptions();
        var c = FuseActorsConfig.WithDefaults(root).GetConfig("fuseactors.virtual-device");
        if (c is null || c.IsEmpty) return d;
        return d with
        {
            MaxOutstanding = c.GetInt("max-outstanding", d.MaxOutstanding),
            KernelMinor = (uint)c.GetInt("kernel-minor", (int)d.KernelMinor),
            MaxReadahead = (uint)c.GetLong("max-readahead", d.MaxReadahead),
            MaxPagesLimit = c.GetInt("max-pages-limit", d.MaxPagesLimit),
        };
    }
}
