namespace FuseActors.Engine.Protocol;

/// <summary>
/// What a connection agreed with the kernel at INIT, plus the mount's default cache timeouts: everything the
/// parser and the reply encoders need beyond the request itself. One per connection; the connection sets the
/// negotiated fields once, on INIT, before any other request is parsed.
/// </summary>
public sealed class NegotiatedProtocol
{
    /// <summary>Default for how long the kernel may trust a name → node mapping.</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Default for how long the kernel may trust attributes.</summary>
    public TimeSpan AttrTimeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Default for how long the kernel may cache "no such name".</summary>
    public TimeSpan NegativeTimeout { get; init; } = TimeSpan.Zero;
    /// <summary>Kernel minor from INIT (e.g. 45).</summary>
    public uint KernelMinor { get; set; } = FuseConstants.KernelMinorVersion;
    /// <summary>FUSE_SETXATTR_EXT was negotiated: SETXATTR carries the 16-byte fuse_setxattr_in.</summary>
    public bool SetXAttrExt { get; set; }
    /// <summary>FUSE_PASSTHROUGH was negotiated: opens may hand their I/O to a backing file.</summary>
    public bool Passthrough { get; set; }
    /// <summary>FUSE_WRITEBACK_CACHE was negotiated: buffered writes are the kernel's until it writes them back.</summary>
    public bool WritebackCache { get; set; }
    /// <summary>The max_write of the INIT reply.</summary>
    public uint MaxWrite { get; set; } = 1 << 20;
}
