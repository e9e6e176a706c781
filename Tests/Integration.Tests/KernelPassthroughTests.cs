using FuseActors.Actors.Connection;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>FOPEN_PASSTHROUGH: an open file's reads and writes go from the kernel straight to a backing host file.</summary>
public sealed class KernelPassthroughTests
{
    [Fact]
    public async Task Reads_and_writes_of_a_passthrough_open_reach_the_backing_file_without_the_daemon()
    {
        var host = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(host, "from the host\n");
            await using var fs = await MountedFilesystem.StartAsync(BackedFileFs.Props(host), new ConnectionSettings { Passthrough = true });
            var ready = await fs.Mount.Ready;
            Assert.True(ready.Flags.HasFlag(FuseActors.Engine.Protocol.InitFlags.Passthrough), "the kernel did not take FUSE_PASSTHROUGH");

            Assert.Equal("from the host\n", await Shell.OkAsync($"cat {fs["data"]}"));
            await Shell.OkAsync($"printf 'through the mount\\n' | dd of={fs["data"]} conv=notrunc status=none");
            Assert.Equal("through the mount\n", await File.ReadAllTextAsync(host));
            await Shell.OkAsync($"dd if=/dev/urandom of={fs["data"]} bs=1M count=8 conv=notrunc iflag=fullblock status=none");
            Assert.Equal(await Shell.OkAsync($"sha256sum < {host}"), await Shell.OkAsync($"sha256sum < {fs["data"]}"));
        }
        finally { File.Delete(host); }
    }
}
