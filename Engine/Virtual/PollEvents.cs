namespace FuseActors.Engine.Virtual;

/// <summary>poll(2) event bits, as <c>fuse_dev_poll</c> reports them (fuse-protocol.md §7.5).</summary>
[Flags]
public enum PollEvents : short
{
    None = 0,
    In = 0x001,
    Pri = 0x002,
    Out = 0x004,
    Err = 0x008,
    Hup = 0x010,
    RdNorm = 0x040,
    WrNorm = 0x100,
}
