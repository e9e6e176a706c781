using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

// Requests the connection answers itself; filesystem actors never see them.

/// <summary>FUSE_INIT: the kernel's side of the negotiation.</summary>
public sealed class InitRequest : FsRequest
{
    private FuseInitOut _out;
    public override Opcode Opcode => Opcode.Init;
    public uint Major { get; internal set; }
    public uint Minor { get; internal set; }
    public uint MaxReadahead { get; internal set; }
    public InitFlags Flags { get; internal set; }

    internal bool Reply(in FuseInitOut reply)
    {
        _out = reply;
        return Complete();
    }

    internal FuseInitOut InitOut => _out;
    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, _out);
}

/// <summary>FUSE_INTERRUPT: the caller of <see cref="TargetUnique"/> got a signal.</summary>
public sealed class InterruptRequest : FsRequest
{
    public override Opcode Opcode => Opcode.Interrupt;
    public ulong TargetUnique { get; internal set; }
}

/// <summary>An opcode this engine does not serve: answered ENOSYS.</summary>
public sealed class UnsupportedRequest : FsRequest
{
    public uint RawOpcode { get; internal set; }
    public override Opcode Opcode => (Opcode)RawOpcode;
}

/// <summary>A request whose body is shorter than its opcode needs: answered EINVAL and logged.</summary>
public sealed class MalformedRequest : FsRequest
{
    public uint RawOpcode { get; internal set; }
    public string Reason { get; internal set; } = "";
    public override Opcode Opcode => (Opcode)RawOpcode;
}

/// <summary>NOTIFY_REPLY: the kernel's answer to a RETRIEVE notification. Never answered.</summary>
public sealed class NotifyReplyRequest : FsRequest
{
    public override Opcode Opcode => Opcode.NotifyReply;
    public ulong Offset { get; internal set; }
    public byte[] Data { get; internal set; } = [];
}
