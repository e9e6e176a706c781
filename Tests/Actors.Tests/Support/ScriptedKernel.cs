using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests.Support;

/// <summary>
/// A device whose "kernel" is the test: it sends whatever bytes it likes (a kernel too old, a second INIT, a
/// duplicate unique: things the VirtualDevice, which keeps the kernel's rules, never sends) and reads every reply
/// the engine writes. Closing it ends the engine's reads with ENODEV, as an unmount does (<see cref="End"/>: with
/// another errno, as an abort does).
/// </summary>
internal sealed class ScriptedKernel : IFuseDevice
{
    private readonly BlockingCollection<byte[]> _requests = new();
    private readonly BlockingCollection<(FuseOutHeader Header, byte[] Payload)> _replies = new();
    private readonly CancellationTokenSource _closed = new();
    private volatile int _endErrno = (int)Errno.ENODEV;

    public string Name => "scripted kernel";

    public int Read(Span<byte> buffer)
    {
        byte[] next;
        try { next = _requests.Take(_closed.Token); }
        catch (OperationCanceledException) { return -_endErrno; }
        next.CopyTo(buffer);
        return next.Length;
    }

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        var message = new byte[head.Length + payload.Length];
        head.CopyTo(message);
        payload.CopyTo(message.AsSpan(head.Length));
        var header = MemoryMarshal.Read<FuseOutHeader>(message);
        _replies.Add((header, message[Unsafe.SizeOf<FuseOutHeader>()..]));
        return message.Length;
    }

    public void Dispose() => _closed.Cancel();

    /// <summary>Ends the engine's reads with <paramref name="reason"/> (ECONNABORTED: the kernel's side was aborted).</summary>
    public void End(Errno reason)
    {
        _endErrno = (int)reason;
        _closed.Cancel();
    }

    /// <summary>The next reply the engine wrote, or a failure after <paramref name="timeout"/> (a liveness bound).</summary>
    public (FuseOutHeader Header, byte[] Payload) NextReply(TimeSpan? timeout = null)
    {
        if (!_replies.TryTake(out var reply, timeout ?? TimeSpan.FromSeconds(10)))
            throw new TimeoutException("the engine wrote no reply");
        return reply;
    }

    /// <summary>True if a reply arrives within <paramref name="wait"/> (use to show that none is written).</summary>
    public bool HasReplyWithin(TimeSpan wait) => _replies.TryTake(out _, wait);

    public void Send(byte[] request) => _requests.Add(request);

    public void Init(ulong unique = 1, uint major = FuseConstants.KernelVersion, uint minor = FuseConstants.KernelMinorVersion,
        InitFlags flags = InitFlags.AtomicOTrunc) =>
        Send(Request(Opcode.Init, unique, 0, new FuseInitIn { Major = major, Minor = minor, MaxReadahead = 1 << 17, Flags = (uint)flags }));

    /// <summary>GETLK, SETLK or SETLKW on <paramref name="node"/> (fuse_lk_in; <paramref name="end"/> OFFSET_MAX is "to the end of the file").</summary>
    public void Lock(Opcode opcode, ulong unique, ulong node, ulong owner, uint type, ulong start = 0, ulong end = FuseConstants.OffsetMax,
        bool flock = false, uint pid = 4321) =>
        Send(Request(opcode, unique, node, new FuseLkIn
        {
            Fh = 3, Owner = owner, Lk = new FuseFileLock { Start = start, End = end, Type = type, Pid = pid },
            LkFlags = flock ? FuseConstants.LkFlock : 0,
        }));

    public void GetAttr(ulong unique, ulong node) => Send(Request(Opcode.GetAttr, unique, node, new FuseGetAttrIn()));

    public void Lookup(ulong unique, ulong parent, string name) =>
        Send(Request(Opcode.Lookup, unique, parent, Encoding.UTF8.GetBytes(name + "\0")));

    public void Forget(ulong unique, ulong node, ulong nlookup) => Send(Request(Opcode.Forget, unique, node, new FuseForgetIn { NLookup = nlookup }));

    public void Interrupt(ulong unique, ulong target) => Send(Request(Opcode.Interrupt, unique, 0, new FuseInterruptIn { Unique = target }));

    public static byte[] Request<T>(Opcode opcode, ulong unique, ulong node, T body) where T : unmanaged
    {
        var bytes = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in body);
        return Request(opcode, unique, node, bytes);
    }

    public static byte[] Request(Opcode opcode, ulong unique, ulong node, byte[] body)
    {
        var header = new FuseInHeader
        {
            Len = (uint)(FuseConstants.InHeaderSize + body.Length), Opcode = (uint)opcode, Unique = unique, NodeId = node,
            Uid = 0, Gid = 0, Pid = 1234,
        };
        var message = new byte[header.Len];
        MemoryMarshal.Write(message, in header);
        body.CopyTo(message, FuseConstants.InHeaderSize);
        return message;
    }
}
