using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Testing.Tests;

/// <summary>A filesystem whose GETATTRs go to a test probe, so a test decides when (and whether) each is answered.
/// Every other operation is the base class's default.</summary>
public sealed class ProbeFs(IActorRef probe) : FilesystemActor
{
    public static Props Props(IActorRef probe) => Akka.Actor.Props.Create(() => new ProbeFs(probe));

    protected override void GetAttr(GetAttrRequest r)
    {
        r.Defer(); // the test answers it, or never
        probe.Tell(r);
    }

    public static FuseAttr RootAttr => new() { Ino = FuseConstants.RootId, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };
}
