using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// A reply taken out of the stream by <see cref="FaultInjector.HoldReply"/>: the engine believes it answered, the
/// kernel side has not received it and the caller still waits. <see cref="Release"/> delivers it.
/// </summary>
public sealed class HeldReply
{
    private readonly object _gate = new();
    private readonly TaskCompletionSource<VirtualRequestInfo> _captured = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<byte[], int>? _deliver;
    private byte[]? _message;
    private bool _released;

    internal HeldReply() { }

    /// <summary>The fault that holds the reply.</summary>
    public Fault Fault { get; internal set; } = null!;

    /// <summary>Completes when a reply has been taken and is being held.</summary>
    public Task<VirtualRequestInfo> Captured => _captured.Task;

    internal void Capture(byte[] message, VirtualRequestInfo request, Func<byte[], int> deliver)
    {
        lock (_gate)
        {
            _message = message;
            _deliver = deliver;
        }
        _captured.TrySetResult(request);
    }

    /// <summary>Delivers the held reply to the kernel side now. Returns what the device's write returned (the
    /// message length, or a negated errno such as ENOENT when the request is gone meanwhile).</summary>
    public int Release()
    {
        byte[] message;
        Func<byte[], int> deliver;
        lock (_gate)
        {
            if (_message is null || _deliver is null) throw new InvalidOperationException("no reply has been held yet; await Captured first");
            if (_released) throw new InvalidOperationException("the held reply was released already");
            _released = true;
            message = _message;
            deliver = _deliver;
        }
        return deliver(message);
    }
}
