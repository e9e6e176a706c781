using Akka.Actor;
using FuseActors.Actors.Connection;

namespace FuseActors.Actors.Tests;

/// <summary>The inline dispatcher runs a mailbox on the sender's thread only when the sender is a device reader;
/// a tell from anywhere else (a timer, the scheduler, a test thread) goes to the thread pool.</summary>
public sealed class InlineDispatcherTests : Akka.TestKit.Xunit2.TestKit
{
    private sealed class ThreadRecorder : ReceiveActor
    {
        public ThreadRecorder(IActorRef probe) => Receive<string>(_ => probe.Tell(Environment.CurrentManagedThreadId));
    }

    private IActorRef Recorder()
    {
        InlineDispatcher.Register(Sys);
        var recorder = Sys.ActorOf(Props.Create(() => new ThreadRecorder(TestActor)).WithDispatcher(InlineDispatcher.DispatcherId));
        // Started and idle: its creation ran elsewhere, so the mailbox is free for the tell under test.
        recorder.Tell("warm-up");
        ExpectMsg<int>();
        return recorder;
    }

    [Fact]
    public void A_tell_from_an_ordinary_thread_runs_the_mailbox_elsewhere()
    {
        var recorder = Recorder();
        int sender = -1;
        var thread = new Thread(() => { sender = Environment.CurrentManagedThreadId; recorder.Tell("go"); });
        thread.Start();
        thread.Join();
        Assert.NotEqual(sender, ExpectMsg<int>());
    }

    [Fact]
    public void A_tell_from_a_reader_thread_runs_the_mailbox_on_that_thread()
    {
        var recorder = Recorder();
        // A mailbox that is still finishing its previous run only enqueues (one message at a time is the rule), so
        // the tell is retried a few times: once it finds the mailbox idle it runs right there.
        bool ranInline = false;
        for (int attempt = 0; attempt < 5 && !ranInline; attempt++)
        {
            int sender = -1;
            var thread = new Thread(() =>
            {
                InlineDispatcher.MarkReaderThread();
                sender = Environment.CurrentManagedThreadId;
                recorder.Tell("go");
            });
            thread.Start();
            thread.Join();
            ranInline = sender == ExpectMsg<int>();
        }
        Assert.True(ranInline);
    }

    /// <summary>Records, in order, the handler and the work it deferred with RunAfterMailboxes: "handled" once the
    /// handler ran (with whether the deferral was taken), then "after:N" on the thread that ran the deferred work.</summary>
    private sealed class Deferrer : ReceiveActor
    {
        public static readonly System.Collections.Concurrent.ConcurrentQueue<string> Log = new();
        private static readonly Action<long> Record = static n => Log.Enqueue($"after:{n}@{Environment.CurrentManagedThreadId}");

        public Deferrer(IActorRef probe) => Receive<long>(n =>
        {
            bool deferred = InlineDispatcher.RunAfterMailboxes(Record, n);
            Log.Enqueue($"handled:{n}:{deferred}@{Environment.CurrentManagedThreadId}");
            probe.Tell(deferred);
        });
    }

    [Fact]
    public void Work_deferred_from_a_handler_on_a_reader_thread_runs_there_after_the_mailbox_run()
    {
        InlineDispatcher.Register(Sys);
        var deferrer = Sys.ActorOf(Props.Create(() => new Deferrer(TestActor)).WithDispatcher(InlineDispatcher.DispatcherId));
        deferrer.Tell(0L); // from the test thread: the mailbox runs on the thread pool, where nothing is deferred
        Assert.False(ExpectMsg<bool>());
        Assert.StartsWith("handled:0:False@", Assert.Single(Deferrer.Log));

        // Retried as above until the tell finds the mailbox idle and runs it on the reader thread.
        for (long attempt = 1; attempt <= 5; attempt++)
        {
            // Thread ids are reused once a thread ends: only this attempt's lines are looked at.
            while (Deferrer.Log.TryDequeue(out _)) { }
            int reader = -1;
            var thread = new Thread(() =>
            {
                InlineDispatcher.MarkReaderThread();
                reader = Environment.CurrentManagedThreadId;
                deferrer.Tell(attempt);
                // Back from the tell: the mailbox run is over, so the deferred work must have run already.
                Deferrer.Log.Enqueue($"returned:{attempt}@{reader}");
            });
            thread.Start();
            thread.Join();
            if (!ExpectMsg<bool>()) continue;
            var lines = Deferrer.Log.Where(l => l.EndsWith($"@{reader}")).ToArray();
            Assert.Equal([$"handled:{attempt}:True@{reader}", $"after:{attempt}@{reader}", $"returned:{attempt}@{reader}"], lines);
            return;
        }
        Assert.Fail("the tell never ran the mailbox on the reader thread");
    }
}
