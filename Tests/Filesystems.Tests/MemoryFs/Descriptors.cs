namespace FuseActors.Filesystems.Tests.MemoryFsTests;

/// <summary>What a descriptor number of this process names, to tell a closed descriptor from an open one.</summary>
internal static unsafe class Descriptors
{
    /// <summary>The inode <paramref name="fd"/> refers to, or 0 when it is not open. A closed number may already name
    /// another file of this process (tests run in parallel): compare inodes, not just "is it open".</summary>
    public static ulong InodeOf(int fd)
    {
        Interop.Statx st;
        return Interop.Native.statx(fd, Interop.Native.EmptyPath, Interop.Native.AT_EMPTY_PATH, 0x100 /* STATX_INO */, &st) == 0
            ? st.Ino : 0;
    }
}
