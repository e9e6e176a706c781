using Akka.Actor;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Testing.Tests;

/// <summary>An Akka app (no TestKit) using a filesystem actor tree through the path API, without mounting it.</summary>
public sealed class InProcessFilesystemTests
{
    [Fact]
    public async Task An_Akka_app_uses_its_filesystem_actor_by_path_without_a_mount()
    {
        using var system = ActorSystem.Create("app", FilesystemTestKit.QuietConfig);
        var fs = await InProcessFilesystem.StartAsync(system, MemoryFs.Props());

        await fs.Files.CreateDirectoryAsync("reports/2026");
        await fs.Files.WriteAllTextAsync("reports/2026/q4.csv", "region,total\nnorth,42\n");
        await fs.Files.MoveAsync("reports/2026/q4.csv", "reports/2026/final.csv");
        Assert.Equal(["final.csv"], (await fs.Files.ListDirectoryAsync("reports/2026")).Select(e => e.Name));
        Assert.Equal("region,total\nnorth,42\n", await fs.Files.ReadAllTextAsync("reports/2026/final.csv"));
        await fs.Files.DeleteAsync("reports", recursive: true);
        Assert.False(await fs.Files.ExistsAsync("reports"));

        await fs.StopAsync();
        Assert.True(fs.Mount.Completion.IsCompleted);
        Assert.Equal(VirtualDeviceState.Disconnected, fs.Device.State);
    }

    [Fact]
    public async Task Decorator_sees_the_same_bytes_the_engine_reads_and_writes()
    {
        using var system = ActorSystem.Create("app", FilesystemTestKit.QuietConfig);
        CountingDevice? counting = null;
        var fs = await InProcessFilesystem.StartAsync(system, MemoryFs.Props(),
            new InProcessOptions { Decorate = d => counting = new CountingDevice(d) });
        await fs.Client.StatFsAsync();
        await fs.StopAsync();
        Assert.True(counting!.Reads >= 2 && counting.Writes >= 2, $"{counting.Reads} reads, {counting.Writes} writes"); // INIT and STATFS at least
        Assert.True(counting.Disposed);
    }

    private sealed class CountingDevice(VirtualDevice inner) : Engine.Device.IFuseDevice
    {
        public int Reads, Writes;
        public bool Disposed;
        public string Name => inner.Name;
        public int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (n > 0) Interlocked.Increment(ref Reads);
            return n;
        }
        public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
        {
            Interlocked.Increment(ref Writes);
            return inner.Write(head, payload);
        }
        public void Dispose()
        {
            Disposed = true;
            inner.Dispose();
        }
    }
}
