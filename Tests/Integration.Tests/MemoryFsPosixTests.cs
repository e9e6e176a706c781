using Akka.Actor;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Integration.Tests;

/// <summary>The POSIX program suite on MemoryFs mounted through /dev/fuse.</summary>
public sealed class MemoryFsPosixTests : PosixProgramTests
{
    protected override Props CreateFilesystem() => MemoryFs.Props();
}
