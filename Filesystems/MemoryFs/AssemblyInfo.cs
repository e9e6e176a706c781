using System.Runtime.CompilerServices;

// FileData and DirectoryEntries are internal; their unit tests live in the Filesystems test project.
[assembly: InternalsVisibleTo("FuseActors.Filesystems.Tests")]
