namespace FuseActors.Engine.Protocol;

/// <summary>
/// What payload a successful reply to a request may carry (the kernel's <c>out_args</c> with <c>out_argvar</c>):
/// exactly <see cref="FixedSize"/> bytes, or — when the last argument is variable — anything from
/// <see cref="FixedSize"/> to <see cref="FixedSize"/> + <see cref="VariableMax"/>.
/// <see cref="ExpectsReply"/> is false for FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY.
/// The shape of a given request comes from <see cref="Operations.ReplyShapeFor"/>.
/// </summary>
public readonly record struct ReplyShape(int FixedSize, int VariableMax, bool ExpectsReply = true)
{
    /// <summary>No reply, ever.</summary>
    public static ReplyShape None => new(0, 0, false);
    /// <summary>Header only.</summary>
    public static ReplyShape Empty => new(0, 0);
    public static ReplyShape Exactly(int size) => new(size, 0);
    /// <summary>Any length from 0 to <paramref name="max"/>.</summary>
    public static ReplyShape UpTo(int max) => new(0, Math.Max(0, max));
    /// <summary>A fixed part followed by a variable part of at most <paramref name="variableMax"/> bytes.</summary>
    public static ReplyShape FixedThenUpTo(int fixedSize, int variableMax) => new(fixedSize, Math.Max(0, variableMax));

    /// <summary>The largest variable part a shape allows: leaves room for the 16-byte out header (and then some)
    /// so that header + payload still fits an int.</summary>
    public const int MaxVariable = int.MaxValue - 64;

    /// <summary>Any reply at all: the shape of an opcode the table does not know (e.g. CUSE_INIT).</summary>
    public static ReplyShape Any => UpTo(MaxVariable);

    public bool IsVariable => VariableMax > 0;

    /// <summary>Whether a successful reply with this many payload bytes is valid.</summary>
    public bool Accepts(int payloadLength) =>
        ExpectsReply && payloadLength >= FixedSize && (long)payloadLength <= (long)FixedSize + VariableMax;

    public override string ToString() =>
        !ExpectsReply ? "no reply" : IsVariable ? $"{FixedSize}..{(long)FixedSize + VariableMax} bytes" : $"{FixedSize} bytes";

    /// <summary>READLINK replies are at most a page less one byte.</summary>
    public const int ReadLinkMax = FuseConstants.PageSize - 1;
}
