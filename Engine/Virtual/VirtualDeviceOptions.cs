using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>Settings of a <see cref="VirtualDevice"/> (the kernel side of the connection).</summary>
public sealed record VirtualDeviceOptions
{
    /// <summary>What the kernel offered in INIT on Linux 6.18 (flags 0x73fffffb, flags2 0x000005fd).</summary>
    public const InitFlags Linux618Offer = (InitFlags)(0x73fffffbUL | (0x000005fdUL << 32));

    /// <summary>
    /// Credit: the most requests that may be outstanding at once (the seed's <c>FUSE_MAX_OUTSTANDING</c>, 10).
    /// Callers beyond it wait; FORGET, BATCH_FORGET, NOTIFY_REPLY and background requests (RELEASE) never wait,
    /// they run on debt instead.
    /// </summary>
    public int MaxOutstanding { get; init; } = 10;

    /// <summary>Opens the device with O_NONBLOCK: <see cref="VirtualDevice.Read(Span{byte})"/> returns -EAGAIN
    /// instead of blocking when nothing is queued.</summary>
    public bool NonBlocking { get; init; }

    /// <summary>The minor version sent in INIT.</summary>
    public uint KernelMinor { get; init; } = FuseConstants.KernelMinorVersion;

    /// <summary>max_readahead sent in INIT.</summary>
    public uint MaxReadahead { get; init; } = 131072;

    /// <summary>The INIT capability flags the kernel offers (flags and flags2).</summary>
    public InitFlags OfferedFlags { get; init; } = Linux618Offer;

    /// <summary>The sysctl fs.fuse.max_pages_limit (max_pages is clamped to it).</summary>
    public int MaxPagesLimit { get; init; } = 256;

    /// <summary>Clock of the cache model (entry_valid / attr_valid expiry).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Shown by <see cref="VirtualDevice.Name"/>.</summary>
    public string Name { get; init; } = "virtual";
}
