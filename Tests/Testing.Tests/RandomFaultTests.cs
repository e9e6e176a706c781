using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;
using Xunit.Abstractions;

namespace FuseActors.Testing.Tests;

/// <summary>
/// The engine and the VirtualDevice together under random faults: concurrent callers, signals at every fault point,
/// replies held and released out of order, delayed or corrupted. Whatever happens, every caller returns, each with an
/// outcome that fits its fault, and afterwards the kernel side is quiescent: credit back, nothing pending, in flight or
/// backgrounded, no node referenced, and every lookup given back.
/// </summary>
public sealed class RandomFaultTests(ITestOutputHelper output) : FilesystemTestKit(output)
{
    private static readonly TimeSpan Eventually = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Callers_all_return_and_the_device_quiesces_under_random_faults(int seed)
    {
        var rnd = new Random(seed);
        await using var fs = await ServeAsync(MemoryFs.Props(), new FilesystemTestOptions { Client = new VfsClientOptions { UseAttrCache = false } });
        var calls = new List<Task>();
        var held = new List<HeldReply>();
        var points = Enum.GetValues<FaultPoint>();

        for (int i = 0; i < 120; i++)
        {
            var cts = new CancellationTokenSource();
            var (op, call) = (rnd.Next(4)) switch
            {
                0 => (Opcode.GetAttr, (Func<Task>)(() => fs.Client.GetAttrAsync(FuseConstants.RootId, cancellationToken: cts.Token))),
                1 => (Opcode.StatFs, () => fs.Client.StatFsAsync(cancellationToken: cts.Token)),
                2 => (Opcode.Lookup, () => fs.Client.LookupAsync(FuseConstants.RootId, "missing", cts.Token)),
                _ => (Opcode.MkDir, (Func<Task>)(async () =>
                {
                    var e = await fs.Client.MkDirAsync(FuseConstants.RootId, $"d{i}", cancellationToken: cts.Token);
                    fs.Client.Forget(e.NodeId);
                })),
            };
            switch (rnd.Next(6))
            {
                case 0: fs.Faults.InterruptAt(points[rnd.Next(points.Length)], op, cts); break;
                case 1: held.Add(fs.Faults.HoldReply(op)); break;
                case 2: fs.Faults.DelayReply(op, TimeSpan.FromMilliseconds(rnd.Next(20))); break;
                case 3: fs.Faults.MalformReply(op, rnd.Next(2) == 0 ? ReplyMalformation.PayloadTooLong : ReplyMalformation.ErrorWithPayload); break;
                default: break; // no fault
            }
            calls.Add(Outcome(call(), cts));
            if (rnd.Next(3) == 0) cts.CancelAfter(rnd.Next(5));
            if (held.Count > 0 && rnd.Next(4) == 0) ReleaseOne(held, rnd);
        }

        // Every caller must return, and the kernel side must come to rest. Held replies are released as they are
        // taken (a hold armed for a request that was dequeued by its signal waits for a later request of its kind,
        // or for none).
        var deadline = DateTime.UtcNow + Eventually;
        var everyone = Task.WhenAll(calls);
        while (!everyone.IsCompleted || !Quiescent(fs))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no rest: callers done {everyone.IsCompleted}, {fs.Device.Stats()}");
            foreach (var h in held.Where(h => h.Captured.IsCompleted).ToList())
            {
                h.Release();
                held.Remove(h);
            }
            await Task.WhenAny(everyone, Task.Delay(10));
        }
        await everyone; // rethrows a caller's wrong outcome
        Assert.Equal([FuseConstants.RootId], fs.Device.LookupCounts().Keys);
        fs.Faults.Clear();
        Assert.True((await fs.Client.GetAttrAsync(FuseConstants.RootId)).IsDirectory); // and the connection still serves
    }

    private static bool Quiescent(ServedFilesystem fs)
    {
        var s = fs.Device.Stats();
        return (s.Credit, s.Debt, s.Pending, s.Processing, s.Background, s.BackgroundReferences, s.NodeReferences, s.ForgetsQueued)
            == (s.MaxOutstanding, 0, 0, 0, 0, 0, 0, 0) && fs.Device.LookupCounts().Count == 1;
    }

    /// <summary>A caller's result is fine if it succeeded or failed as a fault can make it fail.</summary>
    private static async Task Outcome(Task call, CancellationTokenSource cts)
    {
        try
        {
            await call;
        }
        catch (FuseErrnoException e)
        {
            Assert.True(e.Errno is Errno.EINTR or Errno.EIO or Errno.ENOENT, $"unexpected {e.Errno}");
            if (e.Errno == Errno.EINTR) Assert.True(cts.IsCancellationRequested, "EINTR without a signal");
        }
    }

    private static void ReleaseOne(List<HeldReply> held, Random rnd)
    {
        int i = rnd.Next(held.Count);
        if (!held[i].Captured.IsCompleted) return;
        held[i].Release();
        held.RemoveAt(i);
    }
}
