using System.Diagnostics;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Cli;

/// <summary><c>--unmount-dead</c>: takes away a FUSE mount whose daemon is gone, lazily (MNT_DETACH), so whoever
/// still holds it is not in the way.</summary>
internal static class DeadMount
{
    /// <summary>Null when the mount at <paramref name="path"/> is gone; else why not, as one line.</summary>
    public static string? LazyUnmount(string path)
    {
        var errno = FuseMounter.Unmount(path);
        if (errno == Errno.Ok) return null;
        // Without CAP_SYS_ADMIN, fusermount3 (setuid) unmounts a FUSE mount its caller made.
        if (errno is Errno.EPERM && FindFusermount() is { } fusermount)
        {
            var psi = new ProcessStartInfo(fusermount, ["-u", "-z", "--", path]) { RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEnd().Trim();
            p.WaitForExit();
            if (p.ExitCode == 0) return null;
            return $"mountpoint {path} is a dead FUSE mount and fusermount3 -u -z could not unmount it: {stderr}";
        }
        return $"mountpoint {path} is a dead FUSE mount and unmounting it failed: {errno}";
    }

    private static string? FindFusermount() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(dir => Path.Combine(dir, "fusermount3"))
            .FirstOrDefault(File.Exists);
}
