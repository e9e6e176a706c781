using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.PosixBehaviour;

/// <summary>The POSIX behaviour suite on MemoryFs mounted through /dev/fuse: the same tests the VirtualDevice runs
/// (Testing.Tests' VirtualMemoryFsPosixBehaviourTests), so the two paths cannot drift.</summary>
public sealed class MountedMemoryFsPosixBehaviourTests : PosixBehaviourTests
{
    protected override async Task<IPosixDriver> StartAsync()
    {
        var mounted = await MountedFilesystem.StartAsync(MemoryFs.Props());
        return new LibcPosixDriver(mounted.Path, mounted.DisposeAsync);
    }
}
