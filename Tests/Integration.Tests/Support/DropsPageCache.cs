namespace FuseActors.Integration.Tests.Support;

/// <summary>Tests that drop the kernel's page cache (<c>echo 3 > /proc/sys/vm/drop_caches</c>), which reaches every
/// mount of the machine: they run alone, after the parallel ones, so that a test relying on pages the kernel keeps
/// (FOPEN_KEEP_CACHE, as in NotificationAndLockTests) never loses them to another test meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DropsPageCache
{
    public const string Name = "drops the page cache";
}
