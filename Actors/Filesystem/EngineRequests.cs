using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

// Requests the connection answers itself; filesystem actors never see them.

/// <summary>FUSE_INIT: the kernel's side of the negotiation.</summary>
internal sealed class InitRequest : FsRequest
{
    internal InitArgs Args;
    private FuseInitOut _out;
    public override Opcode Opcode => Opcode.Init;
    public uint Major => Args.Major;
    public uint Minor => Args.Minor;
    public uint MaxReadahead => Args.MaxReadahead;
    public InitFlags Flags => Args.Flags;

    internal bool Reply(in FuseInitOut reply)
    {
        _out = reply;
        return Complete();
    }

    internal FuseInitOut InitOut => _out;
    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Init(scratch, _out);
}

/// <summary>FUSE_INTERRUPT: the caller of <see cref="TargetUnique"/> got a signal.</summary>
internal sealed class InterruptRequest : FsRequest
{
    internal InterruptArgs Args;
    public override Opcode Opcode => Opcode.Interrupt;
    public ulong TargetUnique => Args.TargetUnique;
}

/// <summary>An opcode this engine does not serve: answered ENOSYS.</summary>
internal sealed class UnsupportedRequest : FsRequest
{
    public uint RawOpcode => Header.Opcode;
    public override Opcode Opcode => (Opcode)RawOpcode;
}

/// <summary>A request whose body is shorter than its opcode needs: answered EINVAL and logged.</summary>
internal sealed class MalformedRequest : FsRequest
{
    public uint RawOpcode => Header.Opcode;
    public string Reason { get; internal set; } = "";
    public override Opcode Opcode => (Opcode)RawOpcode;
}

/// <summary>NOTIFY_REPLY: the kernel's answer to a RETRIEVE notification. Never answered.</summary>
internal sealed class NotifyReplyRequest : FsRequest
{
    internal NotifyReplyArgs Args;
    public override Opcode Opcode => Opcode.NotifyReply;
    public ulong Offset => Args.Offset;
    public byte[] Data => Args.Data ?? [];
}
