// The example of README.md's "Testing a filesystem with the kit", verbatim: if it stops compiling or passing, the
// README is wrong.
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Testing;

namespace FuseActors.Testing.Tests;

public sealed class MemoryFsKitExample : FilesystemTestKit
{
    [Fact]
    public async Task Files_round_trip_and_faults_reach_the_caller_as_on_Linux()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());   // real engine, VirtualDevice, no root

        await fs.Files.CreateDirectoryAsync("notes");
        await fs.Files.WriteAllTextAsync("notes/today.txt", "hello");
        Assert.Equal("hello", await fs.Files.ReadAllTextAsync("notes/today.txt"));

        // A signal before the filesystem reads the MKDIR: dequeued, the caller gets EINTR, nothing is made.
        using var caller = new CancellationTokenSource();
        fs.Faults.InterruptAt(FaultPoint.BeforeFilesystemReads, Opcode.MkDir, caller);
        var e = await Assert.ThrowsAsync<FuseErrnoException>(
            () => fs.Client.MkDirAsync(VfsClient.RootId, "never", cancellationToken: caller.Token));
        Assert.Equal(Errno.EINTR, e.Errno);
        Assert.False(await fs.Files.ExistsAsync("never"));

        // A corrupt reply is refused by the kernel side and its caller gets EIO.
        fs.Faults.MalformReply(Opcode.StatFs, ReplyMalformation.PayloadTooLong);
        e = await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Client.StatFsAsync());
        Assert.Equal(Errno.EIO, e.Errno);
    }
}
