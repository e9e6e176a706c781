using System.Security.Cryptography;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// PassthroughFs over a host filesystem that stalls: SOURCE is itself a FUSE mount served here (MemoryFs behind a
/// <see cref="GatedReadFs"/>), whose READs of one file wait until the test opens the gate, as a hung NFS server would.
/// The plain path (no kernel passthrough), so every read reaches the daemon. A read stalled in the host holds one
/// of the daemon's I/O threads, never the device reader or the actor: the rest of the mount keeps answering.
/// </summary>
public sealed class PassthroughStalledHostTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(10);

    private static async Task<(MountedFilesystem Lower, byte[] Gated)> MountLowerAsync(ReadGate gate, RequestCounts counts)
    {
        var lower = await MountedFilesystem.StartAsync(CountingFs.Props(GatedReadFs.Props(MemoryFs.Props(), gate), counts));
        try
        {
            var data = new byte[1 << 20];
            new Random(11).NextBytes(data);
            await File.WriteAllBytesAsync(lower["gated"], data);
            await File.WriteAllTextAsync(lower["other"], "other file\n");
            // The kernel queues requests in order: once this OPEN of 'other' is answered, the RELEASEs of the writes
            // above were handled, and the gate counts only what comes later.
            await Shell.OkAsync($"cat {lower["other"]}");
            // MemoryFs's node id is the inode number the kernel shows.
            gate.Hold(ulong.Parse((await Shell.OkAsync($"stat -c %i {lower["gated"]}")).Trim()));
            return (lower, data);
        }
        catch
        {
            await lower.DisposeAsync();
            throw;
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(20))
            Assert.True(clock.Elapsed < Bounded, $"not within {Bounded.TotalSeconds} s: {what}");
    }

    private static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    [Fact]
    public async Task A_read_stalled_in_the_host_does_not_hold_up_the_other_requests_of_the_mount()
    {
        var gate = new ReadGate();
        var (lower, data) = await MountLowerAsync(gate, new RequestCounts());
        await using var lowerMount = lower;
        try
        {
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(lower.Path, new PassthroughOptions { KernelPassthrough = false }));
            using var openGateBeforeUnmount = gate;
            var stalled = Shell.RunAsync($"sha256sum < {fs["gated"]}", timeout: TimeSpan.FromMinutes(1));
            await WaitUntil(() => gate.Held > 0, "the read of 'gated' reached the host and stalled there");

            // Each of these is a LOOKUP, GETATTR, OPEN, READ, CREATE, WRITE, FLUSH or RELEASE through the same mount
            // while the daemon's read of 'gated' is stuck in the host.
            Assert.Equal("11", (await Shell.OkAsync($"stat -c %s {fs["other"]}", timeout: Bounded)).Trim());
            Assert.Equal("other file\n", await Shell.OkAsync($"cat {fs["other"]}", timeout: Bounded));
            Assert.Equal("new file\n", await Shell.OkAsync($"echo 'new file' > {fs["new"]} && cat {fs["new"]}", timeout: Bounded));
            Assert.Equal("other file\nmore\n", await Shell.OkAsync($"echo more >> {fs["other"]} && cat {fs["other"]}", timeout: Bounded));
            Assert.Contains("gated", await Shell.OkAsync($"ls {fs.Path}", timeout: Bounded));
            Assert.False(stalled.IsCompleted, $"the read of 'gated' finished while its host read was held: {(stalled.IsCompleted ? stalled.Result : null)}");

            gate.Open();
            var result = await stalled.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(result.ExitCode == 0, $"the stalled read failed: {result}");
            Assert.Equal(Sha256(data), result.Stdout.Split(' ')[0]);
        }
        finally
        {
            gate.Open();
        }
    }

    [Fact]
    public async Task A_handle_released_while_its_read_is_stuck_in_the_host_keeps_its_descriptor_until_the_read_ends()
    {
        var gate = new ReadGate();
        var (lower, _) = await MountLowerAsync(gate, new RequestCounts());
        await using var lowerMount = lower;
        try
        {
            // A short request timeout: the engine answers the stalled READ with EIO while the host read goes on, the
            // reader gets the error and closes the file, and the kernel sends RELEASE for a handle still in use.
            var upperCounts = new RequestCounts();
            var quick = new ConnectionSettings { RequestTimeout = TimeSpan.FromSeconds(2), SweepInterval = TimeSpan.FromMilliseconds(50) };
            await using var fs = await MountedFilesystem.StartAsync(
                CountingFs.Props(PassthroughFs.Props(lower.Path, new PassthroughOptions { KernelPassthrough = false }), upperCounts), quick);
            using var openGateBeforeUnmount = gate;
            var target = lower["gated"];

            var reader = await Shell.RunAsync($"dd if={fs["gated"]} of=/dev/null bs=4096 count=1", timeout: TimeSpan.FromSeconds(30));
            Assert.True(reader.ExitCode != 0, $"the read should have failed (EIO after the request timeout): {reader}");
            Assert.True(gate.Held > 0, "the host read is still held");
            await WaitUntil(() => upperCounts[Opcode.Release] > 0, "the kernel sent RELEASE for the closed file");
            // The actor handles requests in order and is not held by the host read: once a later request is answered,
            // the RELEASE was handled too.
            Assert.Equal("other file\n", await Shell.OkAsync($"cat {fs["other"]}", timeout: Bounded));
            // But the host read still uses the descriptor: it stays open, so its number cannot go to another open
            // meanwhile, and the host saw no release of the file.
            Assert.Contains(OwnDescriptors.FlagsOf(target), flags => (flags & 0x200000) == 0); // one that is not the node's O_PATH
            Assert.Equal(0, gate.Releases);

            gate.Open();
            // The read ends (its late reply is dropped by the engine) and drops the last reference: closed.
            await WaitUntil(() => !OwnDescriptors.FlagsOf(target).Any(flags => (flags & 0x200000) == 0), "the descriptor was closed once the host read ended");
            await WaitUntil(() => gate.Releases == 1, "the host saw the file released");
        }
        finally
        {
            gate.Open();
        }
    }
}
