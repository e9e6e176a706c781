namespace FuseActors.Integration.Tests.Support;

/// <summary>Tests that read counters of the whole process (ReaderThreadIo's calls, HostIo's aligned copies, the I/O
/// pool's threads): they run alone, after the parallel ones, so no other test's mount moves a counter meanwhile. (The
/// io_uring tests, which read some of them too, are in a serial collection of their own.)</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCounters
{
    public const string Name = "process-wide counters";
}
