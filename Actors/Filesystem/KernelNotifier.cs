using System.Threading.Channels;
using Akka.Event;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// Sends notifications to the kernel for one FUSE connection (FUSE_NOTIFY_INVAL_INODE, INVAL_ENTRY, DELETE): a
/// filesystem whose files change behind the kernel's back (another cluster node, a backend) tells the kernel to drop
/// what it cached. Every method queues and returns at once, from any thread. One dedicated writer thread per
/// connection writes them to the device in order: a notification's write can block in the kernel (INVAL_INODE takes
/// the inode lock, which a request waiting on the filesystem may hold), so it never runs on a device reader or an
/// actor thread.
///
/// <para>The connection hands its notifier to the filesystem with <see cref="FilesystemInitRequest.Notifier"/>;
/// <see cref="FilesystemActor"/> keeps it and offers <c>NotifyInvalidateInode</c>, <c>NotifyInvalidateEntry</c> and
/// <c>NotifyDelete</c>. Notifications are accepted once the kernel's INIT has been answered and until the connection
/// ends; before and after, the methods return false. The kernel's refusals (ENOENT: nothing of that is cached; ENOTDIR,
/// EBUSY, ENOTEMPTY) are normal: counted in <see cref="KernelRefused"/>, logged at Debug, otherwise ignored.</para>
/// </summary>
public sealed class KernelNotifier
{
    private const int Pending = 0, Open = 1, Closed = 2;
    // The largest message: out header, the biggest struct (fuse_notify_delete_out, 24 bytes), a name of NAME_MAX and its NUL.
    private const int BufferSize = FuseConstants.OutHeaderSize + 32 + FuseConstants.NameMax + 1;

    private readonly IFuseDevice _device;
    private readonly ILoggingAdapter _log;
    private readonly Channel<Notification> _queue =
        Channel.CreateUnbounded<Notification>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
    private Thread? _writer;
    private int _state;
    private long _written, _refused;

    internal KernelNotifier(IFuseDevice device, ILoggingAdapter log)
    {
        _device = device;
        _log = log;
    }

    /// <summary>True while notifications are accepted: after INIT was answered, until the connection ends.</summary>
    public bool IsAccepting => Volatile.Read(ref _state) == Open;

    /// <summary>Notifications the kernel took.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Notifications the kernel refused (ENOENT when the node or name is not cached, and the like).</summary>
    public long KernelRefused => Interlocked.Read(ref _refused);

    /// <summary>FUSE_NOTIFY_INVAL_INODE: the kernel drops the node's cached attributes and, unless
    /// <paramref name="offset"/> is negative, its cached pages from <paramref name="offset"/> for
    /// <paramref name="length"/> bytes (0: to the end). offset -1: attributes only; offset 0, length 0: attributes and
    /// every cached page. False when no connection accepts notifications.</summary>
    public bool InvalidateInode(ulong nodeId, long offset = 0, long length = 0) =>
        Enqueue(new Notification(NotifyCode.InvalInode, nodeId, 0, offset, length, default));

    /// <summary>FUSE_NOTIFY_INVAL_ENTRY (flags 0): the kernel forgets the name <paramref name="name"/> in directory
    /// <paramref name="parent"/> (positive or negative), so the next use looks it up again. False when no connection
    /// accepts notifications, or the name is empty or longer than NAME_MAX.</summary>
    public bool InvalidateEntry(ulong parent, FileName name) =>
        ValidName(name) && Enqueue(new Notification(NotifyCode.InvalEntry, parent, 0, 0, 0, name));

    /// <summary>FUSE_NOTIFY_DELETE: <paramref name="name"/> in <paramref name="parent"/>, which named
    /// <paramref name="child"/>, is gone: the kernel drops the entry and, if it still maps to that node, treats the node
    /// as deleted (as after an unlink). False when no connection accepts notifications, or the name is empty or longer
    /// than NAME_MAX.</summary>
    public bool Delete(ulong parent, ulong child, FileName name) =>
        ValidName(name) && Enqueue(new Notification(NotifyCode.Delete, parent, child, 0, 0, name));

    private static bool ValidName(FileName name) => !name.IsEmpty && name.Length <= FuseConstants.NameMax;

    private bool Enqueue(in Notification n) => Volatile.Read(ref _state) == Open && _queue.Writer.TryWrite(n);

    /// <summary>INIT was answered: notifications are accepted from now on (starts the writer thread).</summary>
    internal void Start()
    {
        if (Interlocked.CompareExchange(ref _state, Open, Pending) != Pending) return;
        _writer = new Thread(Run) { IsBackground = true, Name = "fuse-notify" };
        _writer.Start();
    }

    /// <summary>The connection ends: nothing more is accepted, what is still queued is dropped, the writer ends.</summary>
    internal void Stop()
    {
        if (Interlocked.Exchange(ref _state, Closed) == Closed) return;
        _queue.Writer.TryComplete();
    }

    private void Run()
    {
        var buffer = new byte[BufferSize];
        var reader = _queue.Reader;
        try
        {
            while (WaitForWork(reader))
            {
                while (reader.TryRead(out var n))
                {
                    if (Volatile.Read(ref _state) == Closed) return;
                    if (!Write(n, buffer)) { Stop(); return; }
                }
            }
        }
        catch (Exception e)
        {
            _log.Error(e, "the kernel notification writer failed; no more notifications on this connection");
            Stop();
        }
    }

    private static bool WaitForWork(ChannelReader<Notification> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Writes one notification; false when the connection is gone.</summary>
    private bool Write(in Notification n, byte[] buffer)
    {
        var room = buffer.AsSpan(FuseConstants.OutHeaderSize);
        ReadOnlySpan<byte> payload = n.Code switch
        {
            NotifyCode.InvalInode => ReplyEncoder.NotifyInvalInode(room, n.Node, n.Offset, n.Length),
            NotifyCode.InvalEntry => ReplyEncoder.NotifyInvalEntry(room, n.Node, n.Name.Bytes),
            _ => ReplyEncoder.NotifyDelete(room, n.Node, n.Child, n.Name.Bytes),
        };
        var head = ReplyEncoder.NotifyHeader(buffer, n.Code, payload.Length);
        int written = _device.Write(head, payload);
        if (written >= 0)
        {
            Interlocked.Increment(ref _written);
            return true;
        }
        var err = (Errno)(-written);
        switch (err)
        {
            case Errno.ENODEV or Errno.ENOTCONN or Errno.ECONNABORTED or Errno.EBADF:
                _log.Debug("notification {Notification} for node {Node}: the connection is gone ({Errno})", n.Code, n.Node, err);
                return false;
            case Errno.ENOENT or Errno.ENOTDIR or Errno.EBUSY or Errno.ENOTEMPTY or Errno.ENOMEM:
                Interlocked.Increment(ref _refused);
                _log.Debug("notification {Notification} for node {Node} {Name}: kernel answered {Errno}", n.Code, n.Node, n.Name, err);
                return true;
            default:
                Interlocked.Increment(ref _refused);
                _log.Warning("notification {Notification} for node {Node} {Name}: kernel answered {Errno}", n.Code, n.Node, n.Name, err);
                return true;
        }
    }

    private readonly record struct Notification(NotifyCode Code, ulong Node, ulong Child, long Offset, long Length, FileName Name);
}
