using System.Runtime.InteropServices;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>One request as the daemon read it.</summary>
internal sealed class RawRequest(FuseInHeader header, byte[] body)
{
    public FuseInHeader Header { get; } = header;
    public byte[] Body { get; } = body;
    public Opcode Opcode => (Opcode)Header.Opcode;
    public ulong Unique => Header.Unique;
    public ulong NodeId => Header.NodeId;
    public T Arg<T>(int offset = 0) where T : unmanaged => Wire.Read<T>(Body.AsSpan(offset));
    public string Name(int offset = 0) => Wire.ReadCString(Body.AsSpan(offset));
    public override string ToString() => $"{Opcode} #{Unique} node={NodeId} len={Header.Len}";
}

/// <summary>
/// A scripted daemon: the test drives the daemon side of a <see cref="VirtualDevice"/> by hand with raw bytes,
/// exactly as the actor engine would through <see cref="IFuseDevice"/>.
/// </summary>
internal sealed class FakeDaemon(IFuseDevice device, int bufferSize = 1 << 20)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public IFuseDevice Device { get; } = device;
    public byte[] Buffer { get; set; } = new byte[bufferSize];

    public static RawRequest Parse(ReadOnlySpan<byte> message)
    {
        var h = MemoryMarshal.Read<FuseInHeader>(message);
        Assert.Equal((int)h.Len, message.Length);
        return new RawRequest(h, message[FuseConstants.InHeaderSize..].ToArray());
    }

    /// <summary>A non-blocking read: the request, or null when nothing is queued. Fails on any other error.</summary>
    public RawRequest? TryRead()
    {
        int n = ReadNonBlocking();
        if (n == -(int)Errno.EAGAIN) return null;
        Assert.True(n > 0, $"read failed: {(Errno)(-n)}");
        return Parse(Buffer.AsSpan(0, n));
    }

    public int ReadNonBlocking() => Device switch
    {
        VirtualDevice v => v.Read(Buffer, nonBlocking: true),
        VirtualDeviceClone c => c.Read(Buffer, nonBlocking: true),
        _ => throw new NotSupportedException(),
    };

    /// <summary>Reads one request, waiting (with a timeout, so a bug fails instead of hanging).</summary>
    public RawRequest Read()
    {
        using var cts = new CancellationTokenSource(Timeout);
        int n = Device switch
        {
            VirtualDevice v => v.Read(Buffer, cts.Token),
            VirtualDeviceClone c => c.Read(Buffer, cts.Token),
            _ => throw new NotSupportedException(),
        };
        Assert.True(n != -(int)Errno.EINTR, "timed out waiting for a request");
        Assert.True(n > 0, $"read failed: {(Errno)(-n)}");
        return Parse(Buffer.AsSpan(0, n));
    }

    /// <summary>A blocking read for a daemon loop on its own thread: the request, or null once the device is gone.</summary>
    public RawRequest? TryReadBlocking()
    {
        int n = ((VirtualDevice)Device).Read(Buffer, nonBlocking: false);
        if (n == -(int)Errno.ENODEV) return null;
        Assert.True(n > 0, $"read failed: {(Errno)(-n)}");
        return Parse(Buffer.AsSpan(0, n));
    }

    public RawRequest Read(Opcode expected)
    {
        var r = Read();
        Assert.Equal(expected, r.Opcode);
        return r;
    }

    public void AssertNothingToRead()
    {
        var r = TryRead();
        Assert.True(r is null, $"expected nothing to read, got {r}");
    }

    // ------------------------------------------------------------------ replies

    public int Write(ReadOnlySpan<byte> message) => Device.Write(message, default);

    public int Reply(ulong unique, ReadOnlySpan<byte> payload, int error = 0)
    {
        var h = new FuseOutHeader { Len = (uint)(FuseConstants.OutHeaderSize + payload.Length), Error = error, Unique = unique };
        return Device.Write(Wire.Bytes(h), payload);
    }

    public int Reply<T>(ulong unique, in T value) where T : unmanaged => Reply(unique, Wire.Bytes(value));

    public int ReplyEmpty(ulong unique) => Reply(unique, ReadOnlySpan<byte>.Empty);

    public int ReplyError(ulong unique, Errno errno) => Reply(unique, ReadOnlySpan<byte>.Empty, -(int)errno);

    public int ReplyEntry(ulong unique, ulong nodeId, uint mode = Posix.S_IFREG | 0x1A4, ulong entryValid = 1, ulong attrValid = 1,
        ulong size = 0) =>
        Reply(unique, Entry(nodeId, mode, entryValid, attrValid, size));

    public int ReplyAttr(ulong unique, ulong nodeId, uint mode = Posix.S_IFREG | 0x1A4, ulong attrValid = 1, ulong size = 0) =>
        Reply(unique, new FuseAttrOut { AttrValid = attrValid, Attr = Attr(nodeId, mode, size) });

    public int Notify(NotifyCode code, ReadOnlySpan<byte> payload)
    {
        var h = new FuseOutHeader { Len = (uint)(FuseConstants.OutHeaderSize + payload.Length), Error = (int)code, Unique = 0 };
        return Device.Write(Wire.Bytes(h), payload);
    }

    /// <summary>Reads INIT and answers it (major 7, minor 45 by default).</summary>
    public RawRequest Init(uint maxWrite = 65536, uint major = 7, uint minor = 45, InitFlags flags = InitFlags.AsyncRead | InitFlags.BigWrites | InitFlags.MaxPages)
    {
        var init = Read(Opcode.Init);
        var o = new FuseInitOut
        {
            Major = major,
            Minor = minor,
            MaxReadahead = 131072,
            Flags = (uint)flags,
            Flags2 = (uint)((ulong)flags >> 32),
            MaxWrite = maxWrite,
            MaxPages = (ushort)Math.Max(1, maxWrite / 4096),
        };
        Assert.Equal(Wire.SizeOf<FuseInitOut>() + 16, Reply(init.Unique, o));
        return init;
    }

    // ------------------------------------------------------------------ builders

    public static FuseAttr Attr(ulong nodeId, uint mode = Posix.S_IFREG | 0x1A4, ulong size = 0) =>
        new() { Ino = nodeId, Mode = mode, Nlink = 1, Size = size, BlkSize = 4096 };

    public static FuseEntryOut Entry(ulong nodeId, uint mode = Posix.S_IFREG | 0x1A4, ulong entryValid = 1, ulong attrValid = 1, ulong size = 0) =>
        new() { NodeId = nodeId, Generation = 1, EntryValid = entryValid, AttrValid = attrValid, Attr = Attr(nodeId, mode, size) };
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}

internal static class TestExtensions
{
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(FakeDaemon.Timeout);
    public static Task Within(this Task task) => task.WaitAsync(FakeDaemon.Timeout);

    /// <summary>The result of a task that must already be complete (the device completes callers synchronously).</summary>
    public static T Done<T>(this Task<T> task)
    {
        Assert.True(task.IsCompleted, "expected the caller to have returned");
        return task.Result;
    }
}
