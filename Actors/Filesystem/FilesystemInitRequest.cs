using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>What a filesystem declares it handles, so the engine negotiates only what is safe for it (libfuse's
/// <c>init</c> callback choosing <c>conn-&gt;want</c>).</summary>
[Flags]
public enum FilesystemCapabilities
{
    None = 0,

    /// <summary>OPEN and CREATE honour O_TRUNC themselves (FUSE_ATOMIC_O_TRUNC). Without
    /// it the kernel truncates through SETATTR (size 0) after the OPEN, so a filesystem that keeps the default
    /// <c>Open</c> never leaves an old tail behind.</summary>
    HandlesOpenTruncate = 1,
}

/// <summary>
/// Sent to the filesystem once, when the kernel's INIT arrives and before it is answered: the filesystem answers
/// with <see cref="Reply"/> and what it handles. <see cref="FilesystemActor"/> answers it from
/// <c>FilesystemActor.Capabilities</c>; any other answer (an errno, or none within the request timeout) means
/// <see cref="FilesystemCapabilities.None"/>.
/// </summary>
public sealed class FilesystemInitRequest : FsRequest
{
    public override Opcode Opcode => Opcode.Init;

    /// <summary>The kernel's protocol minor (e.g. 45).</summary>
    public uint KernelMinor { get; internal set; }

    /// <summary>What the kernel offered.</summary>
    public InitFlags KernelFlags { get; internal set; }

    internal FilesystemCapabilities Capabilities { get; private set; }

    public bool Reply(FilesystemCapabilities capabilities)
    {
        Capabilities = capabilities;
        return Complete();
    }
}
