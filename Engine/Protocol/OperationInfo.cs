namespace FuseActors.Engine.Protocol;

/// <summary>How the successful reply to an operation is sized; <see cref="Operations.ReplyShapeFor"/> turns it, with the
/// request body where the size depends on it, into a <see cref="ReplyShape"/>.</summary>
public enum ReplyKind
{
    /// <summary>Never answered (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY): a reply gets ENOENT.</summary>
    None,
    /// <summary>Header only.</summary>
    Empty,
    /// <summary>Exactly <see cref="OperationInfo.ReplySize"/> bytes.</summary>
    Fixed,
    /// <summary>0 to <see cref="OperationInfo.ReplySize"/> bytes (READLINK; INIT, whose older replies are shorter).</summary>
    UpTo,
    /// <summary>0 to the request's <c>fuse_read_in.size</c> bytes (READ, READDIR, READDIRPLUS).</summary>
    UpToReadSize,
    /// <summary>With <c>fuse_getxattr_in.size</c> 0 a <c>fuse_getxattr_out</c> (the size probe), else 0 to size bytes.</summary>
    XAttrSizeProbe,
    /// <summary>A <c>fuse_ioctl_out</c> followed by 0 to the request's <c>out_size</c> bytes.</summary>
    IoctlOut,
    /// <summary>Anything: an opcode the table does not know.</summary>
    Any,
}

/// <summary>
/// One row of the operation table (<see cref="Operations"/>), like libfuse's <c>fuse_ll_ops[]</c> and go-fuse's
/// <c>operationHandlers</c>: what the wire says about an opcode, independent of who implements it.
/// </summary>
/// <param name="Opcode">The opcode.</param>
/// <param name="Name">The kernel's name without the FUSE_ prefix ("LOOKUP", "BATCH_FORGET").</param>
/// <param name="MinBodySize">The fewest body bytes (after the 40-byte header) a well-formed request has: the fixed
/// request struct the kernel sends, plus 2 bytes for each NUL-terminated name it must carry (one byte and the NUL:
/// the kernel never sends an empty name). A decoder refuses anything shorter. See <see cref="Operations"/> for the
/// two opcodes whose struct is longer than this minimum.</param>
/// <param name="Reply">How the successful reply is sized.</param>
/// <param name="ReplySize">The size for <see cref="ReplyKind.Fixed"/> and <see cref="ReplyKind.UpTo"/>; else 0.</param>
/// <param name="EnosysSticky">One ENOSYS reply switches the operation off for the rest of the connection
/// (fuse-protocol.md §2.4): the kernel never sends it again and answers the caller itself.</param>
public readonly record struct OperationInfo(
    Opcode Opcode, string Name, int MinBodySize, ReplyKind Reply, int ReplySize, bool EnosysSticky)
{
    /// <summary>False for the four operations the filesystem must never answer.</summary>
    public bool ExpectsReply => Reply != ReplyKind.None;

    public override string ToString() => Name;
}
