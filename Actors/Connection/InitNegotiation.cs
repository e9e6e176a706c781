using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>Chooses the INIT reply from what the kernel offers and what the connection is configured for.</summary>
public static class InitNegotiation
{
    /// <summary>Flags this engine asks for whenever the kernel offers them (fuse-protocol.md §3.2, "recommend on").</summary>
    public const InitFlags Wanted =
        InitFlags.AsyncRead | InitFlags.AtomicOTrunc | InitFlags.BigWrites | InitFlags.AutoInvalData |
        InitFlags.AsyncDio | InitFlags.ParallelDirOps | InitFlags.AbortError | InitFlags.MaxPages |
        InitFlags.CacheSymlinks | InitFlags.SetXAttrExt | InitFlags.InitExt | InitFlags.HasIoctlDir;

    public static FuseInitOut Negotiate(InitRequest init, ConnectionSettings s)
    {
        var want = Wanted;
        if (s.ReadDirPlus) want |= InitFlags.DoReadDirPlus | InitFlags.ReadDirPlusAuto;
        if (s.WritebackCache) want |= InitFlags.WritebackCache;
        // Kernel passthrough and the writeback cache exclude each other; passthrough wins when both are asked for.
        if (s.Passthrough) want = (want | InitFlags.Passthrough) & ~InitFlags.WritebackCache;
        // Only set bits the kernel offered.
        var flags = want & init.Flags;
        uint maxWrite = Math.Clamp(s.MaxWrite, 4096, 1u << 20);
        return new FuseInitOut
        {
            Major = FuseConstants.KernelVersion,
            Minor = FuseConstants.KernelMinorVersion,
            MaxReadahead = Math.Min(s.MaxReadahead, init.MaxReadahead),
            Flags = (uint)((ulong)flags & 0xFFFF_FFFF),
            Flags2 = (uint)((ulong)flags >> 32),
            MaxBackground = s.MaxBackground,
            CongestionThreshold = s.CongestionThreshold,
            MaxWrite = maxWrite,
            TimeGran = 1,
            MaxPages = (ushort)((flags & InitFlags.MaxPages) != 0 ? (maxWrite + 4095) / 4096 : 0),
            // Our stacking depth with passthrough: backing files must be on a filesystem below it (depth 0; a file
            // on overlayfs is refused with ELOOP and its opens take the plain path), and the mount itself can still
            // be a layer of an overlayfs (the kernel allows a stack of 2).
            MaxStackDepth = (flags & InitFlags.Passthrough) != 0 ? 1u : 0u,
        };
    }
}
