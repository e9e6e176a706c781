using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// A file removed through a passthrough mount is deleted on the host once the kernel forgets its node: the node's
/// O_PATH descriptor, the last reference to the unlinked host file, is closed (on /dev/fuse, as here, after the
/// FORGET's mailbox run on the thread that carried it; over io_uring, see IoUringTransportTests, by the closer thread
/// when a queue's thread handled it), so no descriptor of a deleted file stays open and its space comes back.
/// </summary>
public sealed class PassthroughForgetTests : IDisposable
{
    private readonly TempDirectory _temp = new("fuseactors-ptforget-");
    private string _source => _temp.Path;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Removed_files_are_closed_on_the_host_once_the_kernel_forgets_them()
    {
        await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source, new PassthroughOptions { KernelPassthrough = false }));
        await Shell.OkAsync("for i in 1 2 3 4 5 6 7 8; do head -c 1048576 /dev/zero > f$i; done; stat f1 > /dev/null; rm f1 f2 f3 f4 f5 f6 f7 f8", fs.Path);
        Assert.Empty(Directory.GetFiles(_source));
        // The kernel sends FORGET when it evicts the unlinked inode, just after the UNLINK reply.
        List<string> open = OwnDescriptors.DeletedUnder(_source);
        for (int i = 0; i < 100 && open.Count > 0; i++)
        {
            await Task.Delay(50);
            open = OwnDescriptors.DeletedUnder(_source);
        }
        Assert.Empty(open);
        // The mount keeps serving, and a new file of a removed name is a new node.
        Assert.Equal("again\n", await Shell.OkAsync("echo again > f1 && cat f1", fs.Path));
    }
}
