using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Testing.Tests;

/// <summary>The kernel side's credit comes from config (fuseactors.virtual-device.max-outstanding).</summary>
public sealed class FilesystemTestKitConfigTests() : FilesystemTestKit("fuseactors.virtual-device.max-outstanding = 3")
{
    [Fact]
    public async Task Credit_of_the_virtual_device_comes_from_config()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());
        Assert.Equal(3, fs.Device.MaxOutstanding);
        AwaitAssert(() => Assert.Equal(3, fs.Device.Credit));
    }
}
