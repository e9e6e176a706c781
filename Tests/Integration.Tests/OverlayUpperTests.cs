using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// MemoryFs as the upper layer of an overlayfs: removing or renaming a lower file in the merged view leaves a
/// whiteout in the upper layer (overlayfs uses RENAME_WHITEOUT), and the merged view no longer shows it.
/// </summary>
public sealed class OverlayUpperTests
{
    [Fact]
    public async Task Removed_and_renamed_lower_files_become_whiteouts_in_a_MemoryFs_upper_layer()
    {
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props());
        var lower = Directory.CreateTempSubdirectory("fuseactors-ovl-lower-").FullName;
        var merged = Directory.CreateTempSubdirectory("fuseactors-ovl-merged-").FullName;
        try
        {
            var result = await Shell.OkAsync($$"""
                set -e
                echo one > {{lower}}/a && echo two > {{lower}}/b
                mkdir {{fs.Path}}/upper {{fs.Path}}/work
                mount -t overlay overlay -o lowerdir={{lower}},upperdir={{fs.Path}}/upper,workdir={{fs.Path}}/work {{merged}}
                rm {{merged}}/a
                mv {{merged}}/b {{merged}}/c
                ls {{merged}}
                cat {{merged}}/c
                stat -c '%n %F %t:%T' {{fs.Path}}/upper/a {{fs.Path}}/upper/b
                """);
            Assert.Equal($"c\ntwo\n{fs.Path}/upper/a character special file 0:0\n{fs.Path}/upper/b character special file 0:0\n", result);
        }
        finally
        {
            await Shell.RunAsync($"umount {merged} 2>/dev/null || umount -l {merged}");
            Directory.Delete(merged);
            Directory.Delete(lower, recursive: true);
        }
    }
}
