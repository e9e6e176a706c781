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
        var recorder = Sys.ActorOf(Props.Create(() => new ThreadRecorder(TestActor)).WithDispatcher(InlineDispatcher.Id));
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
}
