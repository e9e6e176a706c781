using System.Runtime.CompilerServices;

// The inode/handle tables and the actor's test accessors are internal; their unit tests live in the Filesystems test
// project. The real-mount tests read a counter or two (ReaderThreadIo's).
[assembly: InternalsVisibleTo("FuseActors.Filesystems.Tests")]
[assembly: InternalsVisibleTo("FuseActors.Integration.Tests")]
