using System.Runtime.CompilerServices;

// The inode/handle tables and the actor's test accessors are internal; their unit tests live in the Filesystems test project.
[assembly: InternalsVisibleTo("FuseActors.Filesystems.Tests")]
