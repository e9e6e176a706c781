using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// The device the engine is given in a test: it passes every read and write through to a <see cref="VirtualDevice"/>
/// unchanged (same bytes, same framing) and applies the armed faults at their points. Keeping the faults here, and
/// not in the engine, leaves the engine's hot path exactly as it runs on /dev/fuse.
/// </summary>
internal sealed class FaultInjectingDevice : IFuseDevice
{
    private readonly VirtualDevice _inner;
    private readonly FaultInjector _faults;
    // Requests the engine read and has not answered: what a reply fault needs to know about them.
    private readonly ConcurrentDictionary<ulong, SentRequest> _sent = new();
    // Requests whose reply was dropped, is held, or was too malformed to name its request: the engine's answer to their
    // INTERRUPT (EAGAIN, "not known") is swallowed, else the kernel side would queue the interrupt again and again for
    // a reply that never comes.
    private readonly ConcurrentDictionary<ulong, bool> _withheld = new();

    public FaultInjectingDevice(VirtualDevice inner, FaultInjector faults)
    {
        _inner = inner;
        _faults = faults;
        _inner.BeforeHandOut = OnBeforeHandOut;
    }

    public string Name => _inner.Name;

    public int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        if (n < FuseConstants.InHeaderSize) return n;
        var h = MemoryMarshal.Read<FuseInHeader>(buffer);
        var op = (Opcode)h.Opcode;
        if (!Operations.For(op).ExpectsReply) return n; // FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY: nothing to fault on
        var shape = Operations.ReplyShapeFor(op, buffer[FuseConstants.InHeaderSize..n]);
        var info = new VirtualRequestInfo(h.Unique, op, h.NodeId, new FuseCaller(h.Uid, h.Gid, h.Pid), n);
        _sent[h.Unique] = new SentRequest(info, shape);
        if (_faults.Claim(FaultPoint.AfterReadBeforeReply, info) is { } fault)
        {
            if (fault.RunAction(new FaultContext(FaultPoint.AfterReadBeforeReply, info, _inner))) fault.Complete(info);
        }
        return n;
    }

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        if (head.Length < FuseConstants.OutHeaderSize) return _inner.Write(head, payload);
        var oh = MemoryMarshal.Read<FuseOutHeader>(head);
        if (oh.Unique == 0) return _inner.Write(head, payload); // a notification
        if ((oh.Unique & FuseConstants.InterruptBit) != 0)
            return _withheld.ContainsKey(oh.Unique & ~FuseConstants.InterruptBit) ? head.Length + payload.Length : _inner.Write(head, payload);
        if (!_sent.TryRemove(oh.Unique, out var sent)) return _inner.Write(head, payload);

        var fault = _faults.Claim(FaultPoint.DuringReply, sent.Info);
        if (fault is null) return _inner.Write(head, payload);
        if (!fault.RunAction(new FaultContext(FaultPoint.DuringReply, sent.Info, _inner))) return _inner.Write(head, payload);

        int total = head.Length + payload.Length;
        var reply = fault.Reply;
        switch (reply.Kind)
        {
            case ReplyHandlingKind.Drop:
                _withheld[oh.Unique] = true;
                fault.Complete(sent.Info);
                return total;

            case ReplyHandlingKind.Hold:
                _withheld[oh.Unique] = true;
                reply.Held!.Capture(Concat(head, payload), sent.Info, message => DeliverWithheld(oh.Unique, message));
                fault.Complete(sent.Info);
                return total;

            case ReplyHandlingKind.Delay:
            {
                _withheld[oh.Unique] = true;
                var message = Concat(head, payload);
                var info = sent.Info;
                _ = Task.Delay(reply.Delay).ContinueWith(_ =>
                {
                    DeliverWithheld(oh.Unique, message);
                    fault.Complete(info);
                }, TaskScheduler.Default);
                return total;
            }

            case ReplyHandlingKind.Malform:
            {
                // A bad header names no request, so the request stays unanswered: like a dropped reply.
                if (reply.Malformation is ReplyMalformation.ErrorOutOfRange or ReplyMalformation.LengthMismatch)
                    _withheld[oh.Unique] = true;
                int result = _inner.Write(Malform(head, payload, sent.Shape, reply.Malformation), default);
                fault.Complete(sent.Info);
                return result;
            }

            default:
            {
                int result = _inner.Write(head, payload);
                fault.Complete(sent.Info);
                return result;
            }
        }
    }

    public void Dispose()
    {
        _inner.BeforeHandOut = null;
        _inner.Dispose();
    }

    private void OnBeforeHandOut(VirtualRequestInfo info)
    {
        if (_faults.Claim(FaultPoint.BeforeFilesystemReads, info) is not { } fault) return;
        if (fault.RunAction(new FaultContext(FaultPoint.BeforeFilesystemReads, info, _inner))) fault.Complete(info);
    }

    private int DeliverWithheld(ulong unique, byte[] message)
    {
        _withheld.TryRemove(unique, out _);
        return _inner.Write(message, default);
    }

    private static byte[] Concat(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        var m = new byte[head.Length + payload.Length];
        head.CopyTo(m);
        payload.CopyTo(m.AsSpan(head.Length));
        return m;
    }

    /// <summary>Builds a reply the kernel side rejects, of the asked kind, for the request the reply answers.</summary>
    private static byte[] Malform(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload, ReplyShape shape, ReplyMalformation how)
    {
        var header = MemoryMarshal.Read<FuseOutHeader>(head);
        switch (how)
        {
            case ReplyMalformation.PayloadTooLong:
            {
                // One more 8-byte word than the largest valid payload (a variable reply's limit is what the request asked for).
                long valid = (long)shape.FixedSize + shape.VariableMax;
                if (valid + 8 > 64L << 20) goto case ReplyMalformation.ErrorWithPayload; // no sane test asks for this
                int len = (int)valid + 8;
                var m = new byte[FuseConstants.OutHeaderSize + len];
                payload[..Math.Min(payload.Length, len)].CopyTo(m.AsSpan(FuseConstants.OutHeaderSize));
                return WithHeader(m, 0, header.Unique);
            }
            case ReplyMalformation.ErrorWithPayload:
                return WithHeader(new byte[FuseConstants.OutHeaderSize + 8], -(int)Errno.EIO, header.Unique);
            case ReplyMalformation.ErrorOutOfRange:
                return WithHeader(new byte[FuseConstants.OutHeaderSize], -512, header.Unique);
            case ReplyMalformation.LengthMismatch:
            {
                var m = Concat(head, payload);
                var h = header;
                h.Len = (uint)m.Length + 1;
                MemoryMarshal.Write(m, in h);
                return m;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(how), how, null);
        }
    }

    private static byte[] WithHeader(byte[] message, int error, ulong unique)
    {
        var h = new FuseOutHeader { Len = (uint)message.Length, Error = error, Unique = unique };
        MemoryMarshal.Write(message, in h);
        return message;
    }

    private readonly record struct SentRequest(VirtualRequestInfo Info, ReplyShape Shape);
}
