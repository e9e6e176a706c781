using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using BenchmarkDotNet.Attributes;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Benchmarks;

/// <summary>
/// The engine's whole round trip with a filesystem that answers at once: reader thread → decode → Connection →
/// filesystem actor → Connection → encode → device write. The device is an in-memory queue, so this is the engine's
/// ceiling without syscalls.
/// </summary>
[MemoryDiagnoser]
public class RoundTripBenchmarks
{
    private const int Batch = 20_000;
    private ActorSystem _system = null!;
    private LoopbackDevice _device = null!;
    private FuseMount _mount = null!;
    private byte[][] _requests = [];

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        _device = new LoopbackDevice();
        _device.Enqueue(RequestBuilder.Init(2));
        _mount = FuseMount.Serve(_system, Props.Create<NullFs>(), _device, new ConnectionSettings());
        _mount.Ready.Wait(TimeSpan.FromSeconds(10));
        _requests = new byte[Batch][];
        for (int i = 0; i < Batch; i++)
            _requests[i] = RequestBuilder.Build(Opcode.GetAttr, 4 + 2 * (ulong)i, 1, new FuseGetAttrIn());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mount.UnmountAsync(TimeSpan.FromSeconds(2)).Wait();
        _system.Terminate().Wait();
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void GetAttrRoundTrip()
    {
        _device.ExpectReplies(Batch);
        foreach (var r in _requests) _device.Enqueue(r);
        _device.WaitForReplies();
    }

    private sealed class NullFs : FilesystemActor
    {
        private static readonly FuseAttr Root = new() { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 };
        protected override void GetAttr(GetAttrRequest r) => r.Reply(Root);
    }

    /// <summary>An in-memory device: requests are queued by the benchmark, replies are counted.</summary>
    private sealed class LoopbackDevice : IFuseDevice
    {
        private readonly BlockingCollection<byte[]> _queue = new();
        private readonly ManualResetEventSlim _done = new();
        private int _remaining;

        public string Name => "loopback";

        public void Enqueue(byte[] request) => _queue.Add(request);

        public void ExpectReplies(int n)
        {
            _done.Reset();
            Volatile.Write(ref _remaining, n);
        }

        public void WaitForReplies()
        {
            if (!_done.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("replies did not arrive");
        }

        public int Read(Span<byte> buffer)
        {
            try
            {
                var r = _queue.Take();
                r.CopyTo(buffer);
                return r.Length;
            }
            catch (InvalidOperationException)
            {
                return -(int)Errno.ENODEV;
            }
        }

        public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
        {
            if (Interlocked.Decrement(ref _remaining) == 0) _done.Set();
            return head.Length + payload.Length;
        }

        public void Dispose() => _queue.CompleteAdding();
    }
}
