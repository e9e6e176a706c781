namespace FuseActors.Integration.Tests.Support;

/// <summary>A fresh ext4 filesystem in a loop image under a test's directory: a SOURCE on a local block device,
/// where PassthroughFs's calls wait for the device (O_DIRECT, page-cache misses) instead of answering from memory as on
/// tmpfs. Root only (loop mounts); CI runs as root.</summary>
public static class Ext4LoopMount
{
    /// <summary>Runs <paramref name="body"/> with the filesystem of <paramref name="size"/>, mounted with
    /// <paramref name="options"/> under <paramref name="directory"/>; unmounted (lazily) and its image removed after.</summary>
    public static async Task WithAsync(string directory, string size, string options, Func<string, Task> body)
    {
        var image = Path.Combine(directory, "ext4.img");
        var host = Directory.CreateDirectory(Path.Combine(directory, "host")).FullName;
        await Shell.OkAsync($"truncate -s {size} {image} && mkfs.ext4 -q -F {image} && mount -o loop,{options} {image} {host}");
        try
        {
            await body(host);
        }
        finally
        {
            await Shell.RunAsync($"umount -l {host}; rm -f {image}");
        }
    }
}
