namespace FuseActors.Engine.Device;

/// <summary>
/// One queue of a FUSE connection, as the daemon sees it: <c>/dev/fuse</c> (or a clone of it) or the
/// in-process <c>VirtualDevice</c>. Same bytes, same framing: one <see cref="Read"/> returns exactly one
/// request, one <see cref="Write"/> carries exactly one whole reply or notification.
/// </summary>
public interface IFuseDevice : IDisposable
{
    /// <summary>Blocks until one request is available and copies it into <paramref name="buffer"/>.
    /// Returns its length, or a negated errno (ENODEV once the connection is gone, EINTR/EAGAIN to retry).</summary>
    int Read(Span<byte> buffer);

    /// <summary>Writes one message made of <paramref name="head"/> followed by <paramref name="payload"/>
    /// (gathered, not copied). Returns the bytes written or a negated errno.</summary>
    int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload);

    /// <summary>A short name for logs (e.g. "/dev/fuse fd 7").</summary>
    string Name { get; }
}

/// <summary>A device that can open further queues on the same connection (FUSE_DEV_IOC_CLONE).</summary>
public interface ICloneableFuseDevice : IFuseDevice
{
    /// <summary>Opens another queue on the same connection. Replies must go to the queue a request was read from.</summary>
    IFuseDevice Clone();
}

/// <summary>
/// A device that can hand an open file's reads and writes straight to a backing file in the kernel
/// (FOPEN_PASSTHROUGH, Linux 6.9+; needs CAP_SYS_ADMIN and the PASSTHROUGH INIT flag).
/// </summary>
public interface IPassthroughDevice
{
    /// <summary>Registers <paramref name="fd"/> as a backing file (FUSE_DEV_IOC_BACKING_OPEN). Returns the backing id (&gt; 0) or a negated errno.</summary>
    int OpenBacking(int fd);

    /// <summary>Drops a backing id (FUSE_DEV_IOC_BACKING_CLOSE). Files already opened with it keep their backing file.</summary>
    int CloseBacking(int backingId);
}

/// <summary>
/// A device whose replies are written into buffers of its own (io_uring's ring entries), which a filesystem may fill
/// itself: a READ read straight into the entry's buffer, which the kernel copies from, instead of into a buffer of the
/// filesystem's that is then copied into the entry once more. See <c>ReadRequest.TryReplyInPlace</c>.
/// </summary>
public interface IInPlaceReplyDevice
{
    /// <summary>The reply buffer of request <paramref name="unique"/>, <paramref name="length"/> bytes (page-aligned), and
    /// the slot to end it with; empty when this device holds no such request or the length does not fit. The caller
    /// must own the request's reply (the engine cannot answer it meanwhile) until <see cref="EndInPlaceReply"/>.</summary>
    Span<byte> BeginInPlaceReply(ulong unique, int length, out int slot);

    /// <summary>Sends the reply whose first <paramref name="length"/> bytes were written into the buffer of
    /// <see cref="BeginInPlaceReply"/>; returns the bytes handed to the kernel (header included), or a negated errno
    /// (ENODEV: the queue ended meanwhile).</summary>
    int EndInPlaceReply(int slot, ulong unique, int length);
}

/// <summary>
/// A device that reads a file into a request's own reply buffer without holding its thread: an io_uring queue submits
/// the read (IORING_OP_READ) on its own ring, into the entry's page-aligned buffer, serves other requests meanwhile,
/// and ends the reply when the read's completion comes back, on its own thread. Many reads of one queue are then in
/// flight at once, where a blocking read there would serve the queue's requests one after the other.
/// </summary>
public interface IRingFileReadDevice
{
    /// <summary>
    /// Starts reading <paramref name="length"/> bytes of <paramref name="fd"/> from <paramref name="offset"/> into the
    /// reply buffer of request <paramref name="unique"/>; only on the queue's own thread. True: the read was submitted,
    /// and <paramref name="read"/> will be told how it ended on that thread (<see cref="IRingFileRead"/>), exactly
    /// once; the caller must own the request's reply until then and keep <paramref name="fd"/> open. False, nothing
    /// started: another thread, no such request here, a length that does not fit, the queue is gone or its reader ending.
    /// </summary>
    bool StartFileRead(ulong unique, int fd, long offset, int length, IRingFileRead read);
}

/// <summary>What a read started with <see cref="IRingFileReadDevice.StartFileRead"/> is told, on the queue's thread.</summary>
public interface IRingFileRead
{
    /// <summary>The read ended: <paramref name="result"/> is the bytes read or a negated errno, and
    /// <paramref name="buffer"/> the reply buffer (the length asked). Returns how many of its bytes to answer with
    /// (it may read on into the buffer first), or a negative number to send nothing.</summary>
    int Filled(int result, Span<byte> buffer);

    /// <summary>After <see cref="Filled"/>: <paramref name="sent"/> when the reply with the bytes it chose was committed
    /// to the kernel (<paramref name="writeResult"/>: those bytes, header included; 0 otherwise); else nothing was sent,
    /// also when the queue ended before the read did (then without <see cref="Filled"/>).</summary>
    void Ended(bool sent, int writeResult);
}

/// <summary>
/// A device that answers a READ with bytes of a file without a copy through the filesystem's buffer: an io_uring queue
/// reads into the ring entry's buffer, which the kernel copies from, where a buffer the filesystem filled would be
/// copied into that entry once more; /dev/fuse splices the file's pages into the device (<see cref="SplicedFileReply"/>).
/// </summary>
public interface IFileReplyDevice
{
    /// <summary>
    /// Answers request <paramref name="unique"/> with up to <paramref name="length"/> bytes of <paramref name="fd"/> from
    /// <paramref name="offset"/> (fewer at the file's end). The file is read during the call, so the caller must hold
    /// off changes to it until the call returns. Returns the data bytes sent, or a negated errno when reading the file
    /// failed (that errno was then sent as the reply). <paramref name="writeResult"/> is the device write's result: a
    /// negated errno when the kernel took no reply (ENOENT: it no longer waits for that request).
    /// </summary>
    int ReplyFromFile(ulong unique, int fd, long offset, int length, out int writeResult);
}

/// <summary>A device that can say, without taking anything, whether the kernel has requests queued that no reader has
/// taken yet: a filesystem about to block its thread on slow work hands that work off instead when others wait.</summary>
public interface IRequestQueueProbe
{
    /// <summary>True when at least one request waits in the kernel for a reader of this queue. A hint: false when it
    /// cannot tell (another thread's io_uring queue, a closed device).</summary>
    bool RequestsWaiting();
}
