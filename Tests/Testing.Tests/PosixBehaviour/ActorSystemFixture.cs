using Akka.Actor;
using FuseActors.Testing;

namespace FuseActors.PosixBehaviour;

/// <summary>One actor system for the class's tests; each test serves its own fresh MemoryFs on it.</summary>
public sealed class ActorSystemFixture : IDisposable
{
    public ActorSystem System { get; } = ActorSystem.Create("posix-behaviour", FilesystemTestKit.QuietConfig);
    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(30));
}
