using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests;

/// <summary><see cref="InitNegotiation"/>: only offered flags are taken, and what is asked for follows the <see cref="InitPolicy"/>.</summary>
public sealed class InitNegotiationTests
{
    private static readonly InitArgs Kernel645 = new()
    {
        Major = 7, Minor = 45, MaxReadahead = 128 * 1024,
        Flags = (InitFlags)0x0000_05fd_73ff_fffbUL, // what a 6.18 kernel offers (RequestParserTests.Init_7_45_merges_flags2_into_the_high_bits)
    };

    private static InitFlags Flags(in FuseInitOut o) => (InitFlags)(o.Flags | ((ulong)o.Flags2 << 32));

    [Fact]
    public void Atomic_o_trunc_only_when_the_filesystem_handles_open_truncate()
    {
        Assert.True(Kernel645.Flags.HasFlag(InitFlags.AtomicOTrunc));
        Assert.False(Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy())).HasFlag(InitFlags.AtomicOTrunc));
        Assert.True(Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy { HandlesOpenTruncate = true })).HasFlag(InitFlags.AtomicOTrunc));
    }

    [Fact]
    public void Direct_io_allow_mmap_only_when_the_filesystem_places_page_cache_writes_of_direct_io_opens()
    {
        // A filesystem whose FOPEN_DIRECT_IO opens append wherever a WRITE says (the cluster's append handles) must
        // keep shared mappings of them refused.
        Assert.True(Kernel645.Flags.HasFlag(InitFlags.DirectIoAllowMmap));
        Assert.False(Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy())).HasFlag(InitFlags.DirectIoAllowMmap));
        var taken = InitNegotiation.Negotiate(Kernel645, new InitPolicy { DirectIoAllowMmap = true });
        Assert.True(Flags(taken).HasFlag(InitFlags.DirectIoAllowMmap));
        Assert.Equal(1u << 4, taken.Flags2 & (1u << 4)); // bit 36 travels in flags2
    }

    [Fact]
    public void Over_io_uring_only_when_asked_for_and_offered()
    {
        var offered = Kernel645 with { Flags = Kernel645.Flags | InitFlags.OverIoUring };
        Assert.False(Flags(InitNegotiation.Negotiate(offered, new InitPolicy())).HasFlag(InitFlags.OverIoUring));
        var taken = InitNegotiation.Negotiate(offered, new InitPolicy { OverIoUring = true });
        Assert.True(Flags(taken).HasFlag(InitFlags.OverIoUring));
        Assert.Equal(1u << 9, taken.Flags2 & (1u << 9)); // bit 41 travels in flags2
        // enable_uring off: the kernel does not offer it, so it is not set.
        Assert.False(Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy { OverIoUring = true })).HasFlag(InitFlags.OverIoUring));
    }

    [Fact]
    public void Lock_flags_only_when_the_filesystem_implements_locks()
    {
        Assert.True(Kernel645.Flags.HasFlag(InitFlags.PosixLocks | InitFlags.FlockLocks));
        var none = Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy()));
        Assert.False(none.HasFlag(InitFlags.PosixLocks));
        Assert.False(none.HasFlag(InitFlags.FlockLocks));
        Assert.Equal(InitFlags.PosixLocks, Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy { PosixLocks = true })) & (InitFlags.PosixLocks | InitFlags.FlockLocks));
        Assert.Equal(InitFlags.FlockLocks, Flags(InitNegotiation.Negotiate(Kernel645, new InitPolicy { FlockLocks = true })) & (InitFlags.PosixLocks | InitFlags.FlockLocks));
        // Not offered, not taken.
        var both = new InitPolicy { PosixLocks = true, FlockLocks = true };
        Assert.Equal(0UL, (ulong)(Flags(InitNegotiation.Negotiate(Kernel645 with { Flags = InitFlags.AsyncRead }, both)) & InitFlags.PosixLocks));
    }

    [Fact]
    public void Only_offered_flags_are_set()
    {
        var offered = InitFlags.AsyncRead | InitFlags.AtomicOTrunc;
        var o = InitNegotiation.Negotiate(Kernel645 with { Flags = offered }, new InitPolicy { HandlesOpenTruncate = true, ReadDirPlus = true });
        Assert.Equal(offered, Flags(o));
        Assert.Equal(0u, o.MaxPages);    // MAX_PAGES not offered
    }

    [Fact]
    public void Passthrough_excludes_the_writeback_cache()
    {
        var f = Flags(InitNegotiation.Negotiate(Kernel645 with { Flags = Kernel645.Flags | InitFlags.WritebackCache | InitFlags.Passthrough },
            new InitPolicy { WritebackCache = true, Passthrough = true }));
        Assert.True(f.HasFlag(InitFlags.Passthrough));
        Assert.False(f.HasFlag(InitFlags.WritebackCache));
    }

    [Fact]
    public void Limits_are_clamped_and_taken_from_the_policy()
    {
        var o = InitNegotiation.Negotiate(Kernel645, new InitPolicy { MaxWrite = 10, MaxReadahead = 1 << 20, MaxBackground = 12, CongestionThreshold = 9 });
        Assert.Equal(4096u, o.MaxWrite);
        Assert.Equal(128u * 1024, o.MaxReadahead);   // the kernel's offer is smaller
        Assert.Equal((ushort)12, o.MaxBackground);
        Assert.Equal((ushort)9, o.CongestionThreshold);
        Assert.Equal(1u, o.MaxPages);
        Assert.Equal(FuseConstants.KernelVersion, o.Major);
        Assert.Equal(FuseConstants.KernelMinorVersion, o.Minor);
    }
}
