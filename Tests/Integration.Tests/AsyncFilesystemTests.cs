using FuseActors.Integration.Tests.Support;
using FuseActors.Tests.Shared.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// A filesystem whose every answer comes from another actor 0–50 ms later (the key-value filesystem of the author
/// API tests), mounted for real: shell redirections, cat, ls and rm work on it, and `echo short > existing` leaves no
/// old tail although the filesystem keeps the default Open (the kernel sends O_TRUNC to it as a SETATTR).
/// </summary>
public sealed class AsyncFilesystemTests
{
    [Fact]
    public async Task Programs_work_on_an_asynchronous_filesystem_and_O_TRUNC_leaves_no_old_tail()
    {
        await using var fs = await MountedFilesystem.StartAsync(KeyValueFs.Props());
        await Shell.OkAsync($"printf 'a long value\\n' > {fs["note"]}");
        await Shell.OkAsync($"echo short > {fs["note"]}");
        Assert.Equal("short\n", await Shell.OkAsync($"cat {fs["note"]}"));

        await Shell.OkAsync($"for i in 1 2 3 4 5 6; do echo value $i > {fs.Path}/k$i & done; wait");
        Assert.Equal("k1\nk2\nk3\nk4\nk5\nk6\nnote\n", await Shell.OkAsync($"ls {fs.Path}"));
        Assert.Equal("value 4\n", await Shell.OkAsync($"cat {fs["k4"]}"));
        await Shell.OkAsync($"echo appended >> {fs["k4"]}");
        Assert.Equal("value 4\nappended\n", await Shell.OkAsync($"cat {fs["k4"]}"));
        await Shell.OkAsync($"rm {fs["k1"]}");
        Assert.False(File.Exists(fs["k1"]));
    }
}
