using System.Runtime.InteropServices;

namespace FuseActors.Engine.Protocol;

/// <summary>An operation failed with an errno, as a syscall would. Thrown by the caller API (VfsClient), and thrown by a
/// filesystem's asynchronous handler to answer that errno (EINTR when the caller's token was cancelled,
/// ENOTCONN after abort, ECONNREFUSED after a bad INIT, EIO for an invalid reply, or the filesystem's own errno).</summary>
public sealed class FuseErrnoException : IOException
{
    public FuseErrnoException(Errno errno, Opcode? opcode = null, string? detail = null)
        : base(Describe(errno, opcode, detail))
    {
        Errno = errno;
        Opcode = opcode;
        HResult = (int)errno;
    }

    public Errno Errno { get; }
    public Opcode? Opcode { get; }

    /// <summary>True for EINTR: the caller was interrupted (its token was cancelled).</summary>
    public bool IsInterrupted => Errno == Errno.EINTR;

    private static string Describe(Errno errno, Opcode? opcode, string? detail)
    {
        var s = opcode is { } op ? $"{op}: {errno} ({Marshal.GetPInvokeErrorMessage((int)errno)})" : $"{errno} ({Marshal.GetPInvokeErrorMessage((int)errno)})";
        return detail is null ? s : $"{s}: {detail}";
    }
}
