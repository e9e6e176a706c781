using FuseActors.Filesystems.MemoryFs;
using FuseActors.Testing;

namespace FuseActors.PosixBehaviour;

/// <summary>The POSIX behaviour suite on MemoryFs served through the VirtualDevice: no root, no mount.</summary>
public sealed class VirtualMemoryFsPosixBehaviourTests(ActorSystemFixture fixture) : PosixBehaviourTests, IClassFixture<ActorSystemFixture>
{
    protected override async Task<IPosixDriver> StartAsync()
    {
        var served = await ServedFilesystem.StartAsync(fixture.System, MemoryFs.Props());
        return new VirtualPosixDriver(served.Client, served.StopAsync);
    }
}
