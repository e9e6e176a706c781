using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Device;

/// <summary>
/// A FUSE mount made by <see cref="FuseMounter.MountAny"/>: its first /dev/fuse queue, and how to take it down again
/// (umount2 when the process may, <c>fusermount3 -u</c> otherwise). For <c>auto_unmount</c> it holds the socket the
/// fusermount3 helper watches: <see cref="Dispose"/> closes it (and reaps the helper); a killed daemon closes it too,
/// and the helper then unmounts.
/// </summary>
public sealed class KernelMount : IDisposable
{
    private readonly string? _helper;
    private int _helperPid;
    private int _autoUnmountSocket;

    internal KernelMount(LinuxFuseDevice device, string mountpoint, string? helper, int helperPid, int autoUnmountSocket, IReadOnlyList<string> notes)
    {
        Device = device;
        Mountpoint = mountpoint;
        _helper = helper;
        _helperPid = helperPid;
        _autoUnmountSocket = autoUnmountSocket;
        Notes = notes;
    }

    /// <summary>The connection's first queue (the descriptor mount(2) was given, or the one fusermount3 sent).</summary>
    public LinuxFuseDevice Device { get; }
    public string Mountpoint { get; }
    /// <summary>True when fusermount3 made the mount.</summary>
    public bool ThroughHelper => _helper is not null;
    /// <summary>True when a fusermount3 helper unmounts it if the daemon dies (auto_unmount).</summary>
    public bool AutoUnmount => _autoUnmountSocket >= 0;
    /// <summary>What the mounting decided that a log should say (e.g. allow_other dropped, and why).</summary>
    public IReadOnlyList<string> Notes { get; }

    // A mount fusermount3 made is unmounted by fusermount3 too, unless the process may call umount2 itself (as libfuse).
    private bool UseHelperToUnmount => _helper is not null && !FuseMounter.CanMountDirectly();

    /// <summary>Unmounts if nobody uses the mount: Ok, EBUSY when it is in use, EINVAL when it is not mounted.</summary>
    public Errno TryUnmount() => UseHelperToUnmount ? Fusermount.Unmount(_helper!, Mountpoint, lazy: false, out _) : FuseMounter.TryUnmount(Mountpoint);

    /// <summary>Detaches the mount (lazy unmount): it leaves the namespace at once, the connection ends when nobody uses it.</summary>
    public Errno Detach() => UseHelperToUnmount ? Fusermount.Unmount(_helper!, Mountpoint, lazy: true, out _) : FuseMounter.Unmount(Mountpoint);

    /// <summary>Lets go of the auto_unmount helper (it unmounts lazily if the mount is still there, then exits). Does not
    /// close <see cref="Device"/>: the connection owns it.</summary>
    public void Dispose()
    {
        int socket = Interlocked.Exchange(ref _autoUnmountSocket, -1);
        int pid = Interlocked.Exchange(ref _helperPid, 0);
        if (socket >= 0 || pid > 0) Fusermount.ReleaseHelper(pid, socket, TimeSpan.FromSeconds(5));
    }
}
