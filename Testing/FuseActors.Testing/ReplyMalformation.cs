namespace FuseActors.Testing;

/// <summary>
/// How <see cref="FaultInjector.MalformReply"/> corrupts a reply. Every kind is a reply the kernel rejects: the write
/// fails with EINVAL (the engine logs it). What the caller sees depends on how early the kernel's check fails
/// (fuse-protocol.md §1.2): checks on the request's own reply end the request with EIO; checks on the header alone
/// cannot name a request, so the caller goes on waiting until it is interrupted or the device is aborted.
/// </summary>
public enum ReplyMalformation
{
    /// <summary>A payload longer than the operation allows (fixed-size replies: 8 bytes more; variable ones: more than
    /// the request asked for). The caller gets EIO.</summary>
    PayloadTooLong,

    /// <summary>An error (EIO) that carries a payload. The caller gets EIO.</summary>
    ErrorWithPayload,

    /// <summary>An error outside (−512, 0]. Rejected before the request is looked up: the caller keeps waiting.</summary>
    ErrorOutOfRange,

    /// <summary>A header whose len is not the number of bytes written. Rejected before the request is looked up: the
    /// caller keeps waiting.</summary>
    LengthMismatch,
}
