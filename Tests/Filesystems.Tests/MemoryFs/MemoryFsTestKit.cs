using FuseActors.Filesystems.MemoryFs;
using MemoryFsActor = FuseActors.Filesystems.MemoryFs.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

/// <summary>
/// <see cref="FilesystemUnitTestKit{TActor}"/> on a fresh <see cref="MemoryFsActor"/>, called by an ordinary user
/// (uid and gid 1000); tests can look at its internal accounting through <c>Actor</c>.
/// </summary>
public abstract class MemoryFsTestKit : FilesystemUnitTestKit<MemoryFsActor>
{
    protected const uint Uid = 1000;
    protected const uint Gid = 1000;

    protected MemoryFsTestKit(MemoryFsOptions? options = null) : base(Uid, Gid)
    {
        Fs = ActorOfAsTestActorRef<MemoryFsActor>(MemoryFsActor.Props(options), "memfs");
    }
}
