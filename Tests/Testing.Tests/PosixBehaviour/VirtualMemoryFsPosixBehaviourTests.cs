using Akka.Actor;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Testing;

namespace FuseActors.PosixBehaviour;

/// <summary>One actor system for the class's tests; each test serves its own fresh MemoryFs on it.</summary>
public sealed class ActorSystemFixture : IDisposable
{
    public ActorSystem System { get; } = ActorSystem.Create("posix-behaviour", FilesystemTestKit.QuietConfig);
    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(30));
}

/// <summary>The POSIX behaviour suite on MemoryFs served through the VirtualDevice: no root, no mount.</summary>
public sealed class VirtualMemoryFsPosixBehaviourTests(ActorSystemFixture fixture) : PosixBehaviourTests, IClassFixture<ActorSystemFixture>
{
    protected override async Task<IPosixDriver> StartAsync()
    {
        var served = await ServedFilesystem.StartAsync(fixture.System, MemoryFs.Props());
        return new VirtualPosixDriver(served.Client, served.StopAsync);
    }
}
