using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// The blocking read loop of one device queue, on its own named thread (a blocked read(2) must never hold a
/// dispatcher thread). It takes one credit for each request, so no more than the connection's max-in-flight
/// requests are ever served at once: before the read on /dev/fuse, after it on an io_uring queue (see Run);
/// decodes the request here, off the connection actor; and tells the connection. ENODEV / ECONNABORTED (unmount,
/// abort) end the loop with <see cref="DeviceGone"/>.
/// </summary>
public sealed class DeviceReader
{
    private readonly IFuseDevice _device;
    private readonly IActorRef _connection;
    private readonly SemaphoreSlim _credit;
    private readonly RequestBufferPool _pool;
    private readonly NegotiatedProtocol _protocol;
    private readonly TimeProvider _time;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private long _requestsRead; // written by the reader thread only
    private int _inRead;        // 1 while blocked in read(2) with a credit taken for what it will read (metrics)

    private readonly ConnectionLoad? _load;

    private readonly bool _creditAfterRead;
    private readonly ILoggingAdapter? _log;

    /// <param name="creditAfterRead">Take each request's credit after reading it (a connection over io_uring; see Run).</param>
    /// <param name="log">Where a filesystem's misuse seen on this thread is reported (a lease of WRITE data left open).</param>
    public DeviceReader(IFuseDevice device, IActorRef connection, SemaphoreSlim credit, RequestBufferPool pool, NegotiatedProtocol protocol, TimeProvider time, int index, ConnectionLoad? load = null, bool creditAfterRead = false, ILoggingAdapter? log = null)
    {
        _log = log;
        _creditAfterRead = creditAfterRead || device is IoUringFuseQueue;
        _load = load;
        _device = device;
        _connection = connection;
        _credit = credit;
        _pool = pool;
        _protocol = protocol;
        _time = time;
        _thread = new Thread(Run) { IsBackground = true, Name = $"fuse-reader-{index}" };
    }

    public IFuseDevice Device => _device;

    /// <summary>Requests this queue has read so far (diagnostics: shows how the kernel spreads load over queues).</summary>
    public long RequestsRead => Volatile.Read(ref _requestsRead);

    /// <summary>1 while the reader waits in read(2) holding the credit for the request it will read, else 0: that credit
    /// is not in use by a request (the credit-in-use metric leaves it out).</summary>
    public int HoldsCreditForRead => Volatile.Read(ref _inRead);

    public void Start() => _thread.Start();

    /// <summary>Asks the loop to end after its current read; the read itself ends when the device goes away.</summary>
    public void Stop() => _stopping = true;

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    private void Run()
    {
        InlineDispatcher.MarkReaderThread();
        byte[] buffer = _pool.Rent();
        var ring = _device as IoUringFuseQueue;
        if (ring is null) _load?.ReaderStarted();
        try
        {
            while (!_stopping)
            {
                // A /dev/fuse read takes its credit first: what read(2) takes from the kernel is then always served.
                // Over io_uring every reader takes it after the read: the kernel has put a request in the ring's entry
                // by then whatever our credit says, and an idle reader must not hold a credit while it waits. There is
                // one queue per possible CPU (with 64 or more, idle queues would hold every credit and nothing would be
                // served), and the /dev/fuse reader beside them waits for a FORGET or an INTERRUPT most of the time
                // (holding one, it would leave a max-in-flight of 1 with none for the rings).
                if (!_creditAfterRead)
                {
                    _credit.Wait();
                    if (_stopping) { _credit.Release(); break; }
                    _inRead = 1;
                }
                // Back at the bottom of the thread's stack, before it may sleep: a lease of WRITE data still open here
                // was left undisposed by whatever ran on this thread (a handler inside the last Tell, or a ring read's
                // end), and would hold its ring entry for good.
                if (ring is not null && LentPayload.LeasesOpenOnThisThread) EndLeasesLeftOpen(ring);
                int start = RequestBufferPool.ReadStart(buffer);
                int n = _device.Read(_pool.ReadSpan(buffer, start));
                _inRead = 0;
                if (ring is not null)
                {
                    // File reads this queue started on its ring (IRingFileReadDevice) whose completions came with this read.
                    ring.EndFileReads();
                    if (n == IoUringFuseQueue.FileReadsEnded) continue;
                }
                long ticket = 0;
                var lent = n > 0 ? ring?.TakeLent(out ticket) : null;
                if (n < 0)
                {
                    if (!_creditAfterRead) _credit.Release();
                    var err = (Errno)(-n);
                    if (ring is null && err is Errno.EINTR or Errno.EAGAIN or Errno.ENOENT) continue;
                    AbandonFileReads(ring);
                    _connection.Tell(new DeviceGone(_device, err), ActorRefs.NoSender);
                    return;
                }
                if (_creditAfterRead)
                {
                    // Replies to a ring's requests are submitted by its own thread only: while it waits for credit it
                    // keeps submitting them, or a reply written on another thread would wait for the next credit.
                    bool credit;
                    // Nor could the file reads it started end (they hold credit): it ends those too.
                    while (!(credit = ring is null ? _credit.Wait(50) : _credit.Wait(ring.HasPendingReplies ? 0 : 1)) && !_stopping)
                    {
                        ring?.Flush();
                        ring?.ReapFileReads();
                    }
                    if (_stopping)
                    {
                        // The connection is going: the kernel ends what it put in the ring when the mount goes.
                        if (credit) _credit.Release();
                        break;
                    }
                }
                Volatile.Write(ref _requestsRead, _requestsRead + 1);
                var request = RequestFactory.Parse(buffer, start, n, _protocol, out bool tookBuffer);
                if (lent is not null)
                {
                    // The WRITE's data stayed in the ring entry: the request copies it into its buffer on first use.
                    if (request is WriteRequest w && w.Size == lent.Length) w.Lend(lent, ticket);
                    else
                    {
                        // Not the WRITE it was lent for (a size that disagrees, a malformed body): the data is copied to
                        // where the request was read, as every request's is, and the entry let go.
                        lent.SetDestination(ticket, buffer.AsMemory(start + lent.ReadAt, lent.Length));
                        lent.EnsureCopied(ticket);
                        lent.Release(ticket);
                    }
                }
                request.Device = _device;
                request.Load = _load;
                request.Protocol = _protocol;
                request.StartTimestamp = _time.GetTimestamp();
                if (tookBuffer)
                {
                    ((WriteRequest)request).Pool = _pool;
                    buffer = _pool.Rent();
                }
                _connection.Tell(request, ActorRefs.NoSender);
            }
            AbandonFileReads(ring);
        }
        catch (Exception e)
        {
            try
            {
                AbandonFileReads(ring);
            }
            catch (Exception second)
            {
                e = new AggregateException(e, second);
            }
            _connection.Tell(new DeviceGone(_device, Errno.EIO, e), ActorRefs.NoSender);
            return;
        }
        finally
        {
            if (ring is null) _load?.ReaderEnded();
            _pool.Return(buffer);
        }
    }

    private void EndLeasesLeftOpen(IoUringFuseQueue ring)
    {
        int ended = ring.EndLeasesLeftOpen();
        if (ended > 0)
            _log?.Error("a filesystem left {Count} lease(s) of WRITE data undisposed (WriteRequest.LeaseData must be disposed: "
                + "`using var data = r.LeaseData();`); ended by the engine so that the ring entry goes back to the kernel", ended);
    }

    /// <summary>The reader is ending: the file reads its queue started are ended (waited for while its ring lives; those
    /// it cannot wait for are told they sent nothing, and their filesystem answers them some other way, or the answer
    /// finds the queue gone). See <see cref="IoUringFuseQueue.AbandonFileReads"/>.</summary>
    private static void AbandonFileReads(IoUringFuseQueue? ring) => ring?.AbandonFileReads();
}

/// <summary>A device queue ended: ENODEV after unmount, ECONNABORTED after an abort, or a reader failure.</summary>
public sealed record DeviceGone(IFuseDevice Device, Errno Reason, Exception? Failure = null) : INoSerializationVerificationNeeded;
