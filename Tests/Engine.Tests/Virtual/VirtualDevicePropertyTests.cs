using FsCheck.Xunit;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>
/// Properties over random interleavings of send, interrupt (cancel), read, reply, forget and abort, driven from one
/// thread so every run is deterministic: no request is lost or answered twice, every caller returns with an outcome
/// that matches what the daemon wrote, credit and debt return to their starting values, background references reach
/// zero, and the kernel's and the daemon's lookup counts agree.
/// </summary>
public sealed class VirtualDevicePropertyTests
{
    private sealed class Caller(Task<VirtualReply> task, CancellationTokenSource? cts, Opcode op, bool background)
    {
        public readonly Task<VirtualReply> Task = task;
        public readonly CancellationTokenSource? Cts = cts;
        public readonly Opcode Op = op;
        public readonly bool Background = background;
        public bool Harvested;
    }

    private sealed class Model : IDisposable
    {
        public readonly VirtualDevice D;
        public readonly FakeDaemon Daemon;
        public readonly List<Caller> Callers = [];
        public readonly List<RawRequest> Received = [];     // read, need a reply, not answered yet
        public readonly List<RawRequest> Interrupts = [];
        public readonly List<ulong> Answered = [];          // uniques whose reply the device accepted or rejected
        public readonly Dictionary<ulong, Errno> Outcome = []; // what the caller of a unique must see (if still waiting)
        public readonly Dictionary<ulong, ulong> SentNode = [];
        public readonly Dictionary<ulong, long> Tally = [];    // the daemon's lookup counts
        public readonly List<ulong> Held = [];                 // lookups held by callers
        public bool Aborted;
        private int _names;

        public Model(int maxOutstanding)
        {
            D = new VirtualDevice(new VirtualDeviceOptions { MaxOutstanding = maxOutstanding });
            Daemon = new FakeDaemon(D, 1 << 17);
            Daemon.Init();
        }

        public void Dispose() => D.Dispose();

        public void SendLookup()
        {
            var cts = new CancellationTokenSource();
            Callers.Add(new Caller(D.SendAsync(Rq.Lookup(1, "n" + _names++), Rq.Alice, cts.Token), cts, Opcode.Lookup, false));
        }

        public void SendGetAttr(uint p)
        {
            var cts = new CancellationTokenSource();
            ulong node = Held.Count == 0 || p % 2 == 0 ? 1 : Held[(int)(p / 2 % (uint)Held.Count)];
            Callers.Add(new Caller(D.SendAsync(Rq.GetAttr(node), Rq.Alice, cts.Token), cts, Opcode.GetAttr, false));
        }

        public void SendRelease(uint p)
        {
            ulong node = Held.Count == 0 ? 1 : Held[(int)(p % (uint)Held.Count)];
            Callers.Add(new Caller(D.SendBackground(Rq.Release(node, p), Rq.Alice), null, Opcode.Release, true));
        }

        public void Forget(uint p)
        {
            if (Held.Count == 0) return;
            int i = (int)(p % (uint)Held.Count);
            ulong node = Held[i];
            Held.RemoveAt(i);
            D.Forget(node);
        }

        public void Cancel(uint p)
        {
            var waiting = Callers.Where(c => c.Cts != null && !c.Task.IsCompleted).ToList();
            if (waiting.Count == 0) return;
            var victim = waiting[(int)(p % (uint)waiting.Count)];
            victim.Cts!.Cancel();
            AssertReturnedOnSignal(victim);
        }

        /// <summary>A signalled caller returns at once (queued: dequeued; sent: backgrounded), with EINTR unless the
        /// connection died first.</summary>
        private void AssertReturnedOnSignal(Caller c)
        {
            Assert.True(c.Task.IsCompleted, $"a signalled {c.Op} caller did not return at once");
            Assert.True(c.Task.Result.Error is Errno.EINTR or Errno.ENOTCONN or Errno.ECONNABORTED, $"signalled caller got {c.Task.Result}");
        }

        public void Read(uint p, bool cancelDuringCopy)
        {
            Caller? victim = null;
            if (cancelDuringCopy)
            {
                var waiting = Callers.Where(c => c.Cts != null && !c.Task.IsCompleted).ToList();
                if (waiting.Count > 0)
                {
                    victim = waiting[(int)(p % (uint)waiting.Count)];
                    D.DuringCopy = _ => victim.Cts!.Cancel();
                }
            }
            RawRequest? r;
            try { r = Aborted ? null : Daemon.TryRead(); }
            finally { D.DuringCopy = null; }
            if (victim != null && victim.Cts!.IsCancellationRequested) AssertReturnedOnSignal(victim);
            if (Aborted) Assert.Equal(-(int)Errno.ENODEV, Daemon.ReadNonBlocking());
            if (r is null) return;
            if (r.Opcode != Opcode.Interrupt) Assert.True(r.Unique != 0 && (r.Unique & 1) == 0, $"bad unique in {r}");
            switch (r.Opcode)
            {
                case Opcode.Forget:
                    AddTally(r.NodeId, -(long)r.Arg<FuseForgetIn>().NLookup);
                    break;
                case Opcode.BatchForget:
                    for (int i = 0; i < r.Arg<FuseBatchForgetIn>().Count; i++)
                    {
                        var one = r.Arg<FuseForgetOne>(8 + 16 * i);
                        AddTally(one.NodeId, -(long)one.NLookup);
                    }
                    break;
                case Opcode.Interrupt:
                    Assert.Equal(1UL, r.Unique & 1);
                    Assert.Equal(r.Unique & ~1UL, r.Arg<FuseInterruptIn>().Unique);
                    Assert.DoesNotContain(r.Unique & ~1UL, Answered); // never for an answered request
                    Interrupts.Add(r);
                    break;
                default:
                    Assert.DoesNotContain(Received, x => x.Unique == r.Unique);
                    Assert.DoesNotContain(r.Unique, Answered);
                    Received.Add(r);
                    break;
            }
        }

        private void AddTally(ulong node, long delta)
        {
            Tally[node] = Tally.GetValueOrDefault(node) + delta;
            Assert.True(Tally[node] >= 0, $"FORGET of more lookups of node {node} than the daemon handed out");
        }

        public void Reply(uint p)
        {
            if (Received.Count == 0) return;
            int i = (int)(p % (uint)Received.Count);
            var r = Received[i];
            Received.RemoveAt(i);
            uint variant = p / 16 % 4;
            Reply(r, variant);
        }

        public void Reply(RawRequest r, uint variant)
        {
            int written;
            Errno expected;
            ulong sentNode = 0;
            switch (r.Opcode, variant)
            {
                case (Opcode.Lookup, 0):
                    sentNode = 100 + r.Unique / 2 % 5;
                    written = Daemon.ReplyEntry(r.Unique, sentNode);
                    expected = Errno.Ok;
                    break;
                case (Opcode.Lookup, 1):
                    written = Daemon.ReplyError(r.Unique, Errno.ENOENT);
                    expected = Errno.ENOENT;
                    break;
                case (Opcode.Lookup, 2):
                    written = Daemon.Reply(r.Unique, new byte[100]); // malformed
                    expected = Errno.EIO;
                    break;
                case (Opcode.Lookup, _):
                    written = Daemon.ReplyEntry(r.Unique, 0, entryValid: 0); // negative, not cached
                    expected = Errno.Ok;
                    break;
                case (Opcode.GetAttr, 0):
                case (Opcode.GetAttr, 1):
                    written = Daemon.ReplyAttr(r.Unique, r.NodeId, r.NodeId == 1 ? Posix.S_IFDIR | 0x1ED : Posix.S_IFREG | 0x1A4);
                    expected = Errno.Ok;
                    break;
                case (Opcode.GetAttr, 2):
                    written = Daemon.Reply(r.Unique, new byte[96]); // malformed
                    expected = Errno.EIO;
                    break;
                case (Opcode.GetAttr, _):
                    written = Daemon.Reply(r.Unique, new byte[8], -(int)Errno.EACCES); // error with payload
                    expected = Errno.EIO;
                    break;
                case (Opcode.Release, 3):
                    written = Daemon.ReplyError(r.Unique, Errno.EIO);
                    expected = Errno.EIO;
                    break;
                default:
                    written = Daemon.ReplyEmpty(r.Unique);
                    expected = Errno.Ok;
                    break;
            }

            if (Aborted)
            {
                Assert.Equal(-(int)Errno.ENOENT, written);
                return;
            }
            bool valid = expected != Errno.EIO || r.Opcode == Opcode.Release;
            if (valid) Assert.True(written > 0, $"reply to {r} failed: {(Errno)(-written)}");
            else Assert.Equal(-(int)Errno.EINVAL, written);
            Answered.Add(r.Unique);
            Outcome[r.Unique] = expected;
            if (sentNode != 0)
            {
                SentNode[r.Unique] = sentNode;
                AddTally(sentNode, 1);
            }
        }

        public void DuplicateReply(uint p)
        {
            if (Answered.Count == 0) return;
            ulong u = Answered[(int)(p % (uint)Answered.Count)];
            Assert.Equal(-(int)Errno.ENOENT, Daemon.ReplyError(u, Errno.EIO));
        }

        public void InterruptReply(uint p)
        {
            if (Interrupts.Count == 0) return;
            int i = (int)(p % (uint)Interrupts.Count);
            var intr = Interrupts[i];
            Interrupts.RemoveAt(i);
            var err = (p / 8 % 3) switch { 0 => Errno.EAGAIN, 1 => Errno.ENOSYS, _ => Errno.EINVAL };
            int w = Daemon.ReplyError(intr.Unique, err);
            bool targetLive = !Aborted && Received.Any(x => x.Unique == (intr.Unique & ~1UL));
            Assert.Equal(targetLive ? 16 : -(int)Errno.ENOENT, w);
        }

        public void Abort()
        {
            D.Abort();
            Aborted = true;
        }

        /// <summary>Callers that got a node keep its lookup (to forget later).</summary>
        public void Harvest()
        {
            foreach (var c in Callers)
            {
                if (c.Harvested || !c.Task.IsCompleted) continue;
                c.Harvested = true;
                var r = c.Task.Result;
                if (c.Op == Opcode.Lookup && r.IsOk && r.Read<FuseEntryOut>().NodeId is var node and not 0) Held.Add(node);
            }
        }

        /// <summary>Finish everything: forget held nodes, read and answer until nothing moves.</summary>
        public void Drain()
        {
            for (int round = 0; round < 10_000; round++)
            {
                Harvest();
                foreach (var n in Held) D.Forget(n);
                bool moved = Held.Count > 0;
                Held.Clear();
                while (!Aborted && Daemon.TryRead() is { } r)
                {
                    moved = true;
                    // re-dispatch through the same bookkeeping as Read
                    switch (r.Opcode)
                    {
                        case Opcode.Forget: AddTally(r.NodeId, -(long)r.Arg<FuseForgetIn>().NLookup); break;
                        case Opcode.BatchForget:
                            for (int i = 0; i < r.Arg<FuseBatchForgetIn>().Count; i++)
                            {
                                var one = r.Arg<FuseForgetOne>(8 + 16 * i);
                                AddTally(one.NodeId, -(long)one.NLookup);
                            }
                            break;
                        case Opcode.Interrupt: Interrupts.Add(r); break;
                        default: Received.Add(r); break;
                    }
                }
                foreach (var r in Received.ToList())
                {
                    moved = true;
                    Received.Remove(r);
                    Reply(r, 0);
                }
                Harvest();
                if (!moved && Held.Count == 0) return;
            }
            Assert.Fail("the device did not quiesce");
        }

        public void Check()
        {
            // Every caller returned, with an outcome consistent with what the daemon wrote.
            foreach (var c in Callers)
            {
                Assert.True(c.Task.IsCompleted, $"a {c.Op} caller never returned");
                var r = c.Task.Result;
                switch (r.Error)
                {
                    case Errno.EINTR:
                        Assert.False(c.Background);
                        Assert.True(c.Cts!.IsCancellationRequested, "EINTR without a signal");
                        break;
                    case Errno.ENOTCONN:
                    case Errno.ECONNABORTED:
                        Assert.True(Aborted, $"{r.Error} without an abort");
                        break;
                    default:
                        Assert.True(Outcome.TryGetValue(r.Unique, out var expected), $"{r} matches no reply the daemon wrote");
                        Assert.Equal(expected, r.Error);
                        if (r.IsOk && c.Op == Opcode.Lookup && SentNode.TryGetValue(r.Unique, out var sent))
                            Assert.Equal(sent, r.Read<FuseEntryOut>().NodeId);
                        break;
                }
            }
            Assert.Equal(Answered.Count, Answered.Distinct().Count());

            // Credit and debt back to their starting values; no references left behind.
            var s = D.Stats();
            Assert.Equal(s.MaxOutstanding, s.Credit);
            Assert.Equal(0, s.Debt);
            Assert.Equal(0, s.WaitingForCredit);
            Assert.Equal(0, s.Pending);
            Assert.Equal(0, s.Processing);
            Assert.Equal(0, s.Background);
            Assert.Equal(0, s.BackgroundReferences);
            Assert.Equal(0, s.NodeReferences);
            Assert.Equal(0, s.ForgetsQueued);

            // The kernel's and the daemon's lookup counts agree (no FORGETs are sent after an abort).
            if (!Aborted)
            {
                var kernel = D.LookupCounts().Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => (long)kv.Value);
                var daemon = Tally.Where(kv => kv.Value > 0).ToDictionary();
                Assert.Equal(daemon, kernel);
                Assert.Empty(kernel);
            }
        }
    }

    private static void Run(int[] script, byte config)
    {
        using var m = new Model(1 + config % 4);
        foreach (int v in script ?? [])
        {
            uint u = (uint)v;
            uint kind = u % 100, p = u / 100;
            switch (kind)
            {
                case < 14: m.SendLookup(); break;
                case < 24: m.SendGetAttr(p); break;
                case < 29: m.SendRelease(p); break;
                case < 36: m.Forget(p); break;
                case < 46: m.Cancel(p); break;
                case < 63: m.Read(p, cancelDuringCopy: false); break;
                case < 68: m.Read(p, cancelDuringCopy: true); break;
                case < 85: m.Reply(p); break;
                case < 89: m.DuplicateReply(p); break;
                case < 95: m.InterruptReply(p); break;
                case 95 when config % 8 == 0: m.Abort(); break;
                default: m.Read(p, cancelDuringCopy: false); break;
            }
            m.Harvest();
        }
        m.Drain();
        m.Check();
    }

    [Property(MaxTest = 300, EndSize = 200)]
    public void Random_interleavings_lose_nothing_answer_once_and_return_credit_debt_and_references(int[] script, byte config) =>
        Run(script, config);

    [Fact]
    public void Long_random_interleavings_with_a_fixed_seed()
    {
        var rnd = new Random(12345);
        for (int i = 0; i < 40; i++)
            Run(Enumerable.Range(0, 600).Select(_ => rnd.Next()).ToArray(), (byte)rnd.Next(256));
    }
}
