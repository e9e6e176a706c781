using FuseActors.Filesystems.Interop;
using static FuseActors.Filesystems.Interop.Native;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// How many descriptors PassthroughFs may hold for the kernel's nodes and open files, so that the process never runs
/// out of them. It must not: the .NET runtime gives every thread it starts a pipe, and a thread that cannot have one
/// (EMFILE) aborts the whole process ("PAL_SEHException"), taking the mount with it; the thread pool starts threads
/// whenever it likes (measured here: a daemon at RLIMIT_NOFILE died under load, and on every SIGTERM). So a reserve is
/// kept free for the runtime and the engine: what the process held when the filesystem started (the runtime, the
/// device, the source directory), plus 64 and a sixteenth of the limit. Past the budget a request that would take a
/// new descriptor fails with EMFILE, as passthrough_hp's fail when it reaches the limit itself. Each filesystem takes its
/// budget when it starts: several in one process each count what the others held at that time, not what they take later.
/// </summary>
internal sealed unsafe class DescriptorBudget
{
    /// <summary>Descriptors the filesystem may hold, at least 16.</summary>
    public int Available { get; }
    /// <summary>The process's RLIMIT_NOFILE when the budget was taken (0: unknown, no budget kept).</summary>
    public ulong Limit { get; }
    /// <summary>Descriptors the process held at that time.</summary>
    public int Baseline { get; }

    private DescriptorBudget(int available, ulong limit, int baseline)
    {
        Available = available;
        Limit = limit;
        Baseline = baseline;
    }

    /// <summary>The budget of this process, from its limit and what it holds now.</summary>
    public static DescriptorBudget ForThisProcess()
    {
        RLimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.Current >= int.MaxValue) return new DescriptorBudget(int.MaxValue, 0, 0);
        int held;
        try { held = Directory.EnumerateFileSystemEntries("/proc/self/fd").Count(); } // directories' too
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { held = 128; }
        return For(limit.Current, held);
    }

    /// <summary>The budget for a limit of <paramref name="limit"/> descriptors with <paramref name="held"/> held already.</summary>
    public static DescriptorBudget For(ulong limit, int held)
    {
        long reserve = 64 + (long)(limit / 16);
        long available = (long)limit - held - reserve;
        return new DescriptorBudget((int)Math.Clamp(available, 16, int.MaxValue), limit, held);
    }
}
