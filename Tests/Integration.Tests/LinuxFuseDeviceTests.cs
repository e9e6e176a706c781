using System.Runtime.InteropServices;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// The /dev/fuse descriptor against calls on other threads: a device disposed while a call is in the kernel keeps its
/// number until that call returns, so the number cannot be handed to another file meanwhile (a reply written into a host
/// file the filesystem had just opened), and every later call is refused with ENODEV.
/// </summary>
public sealed class LinuxFuseDeviceTests
{
    [Fact]
    public void A_device_disposed_while_its_reader_waits_keeps_its_number_until_the_read_ends_and_refuses_later_calls()
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-device-").FullName;
        LinuxFuseDevice? device = null;
        Thread? reader = null;
        uint? connection = null;
        try
        {
            device = FuseMounter.Mount(dir, new MountOptions());
            connection = FuseMounter.ConnectionId(dir);
            var buffer = new byte[(1 << 20) + 4096];
            Assert.True(device.Read(buffer) > 0); // INIT, left unanswered: the kernel sends nothing more

            int tid = 0, readResult = 0;
            reader = new Thread(() =>
            {
                Volatile.Write(ref tid, gettid());
                readResult = device.Read(buffer);
            });
            reader.Start();
            WaitUntilBlockedInRead(() => Volatile.Read(ref tid));

            int number = device.Fd;
            device.Dispose();
            // The read still holds the descriptor: it stays /dev/fuse, and a file opened now gets another number.
            Assert.Equal("/dev/fuse", new FileInfo($"/proc/self/fd/{number}").LinkTarget);
            using (var other = File.OpenHandle("/dev/null"))
                Assert.NotEqual(number, (int)other.DangerousGetHandle());
            var header = new byte[FuseConstants.OutHeaderSize];
            Assert.Equal(-(int)Errno.ENODEV, device.Write(header, default));
            Assert.Equal(-(int)Errno.ENODEV, device.Read(buffer));

            // The end of the connection ends the read, which then lets the descriptor go.
            Assert.Equal(Errno.Ok, FuseMounter.Abort(connection!.Value));
            Assert.True(reader.Join(TimeSpan.FromSeconds(10)), "the read did not end when the connection was aborted");
            Assert.True(readResult is -(int)Errno.ECONNABORTED or -(int)Errno.ENODEV, $"read ended with {readResult}");
        }
        finally
        {
            if (reader is { IsAlive: true } && connection is { } id) FuseMounter.Abort(id);
            device?.Dispose();
            FuseMounter.Unmount(dir);
            try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    /// <summary>Waits until thread <paramref name="tid"/> sits in read(2) (its /proc syscall line names the call).</summary>
    private static void WaitUntilBlockedInRead(Func<int> tid)
    {
        string read = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "63 " : "0 ";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            int t = tid();
            if (t != 0)
            {
                try
                {
                    if (File.ReadAllText($"/proc/self/task/{t}/syscall").StartsWith(read, StringComparison.Ordinal)) return;
                }
                catch (IOException) { }
            }
            Thread.Sleep(5);
        }
        Assert.Fail("the reader never blocked in read(2)");
    }

    [DllImport("libc")]
    private static extern int gettid();
}
