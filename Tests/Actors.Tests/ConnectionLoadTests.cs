using System.Collections.Concurrent;
using FuseActors.Actors.Connection;

namespace FuseActors.Actors.Tests;

/// <summary>A connection's /dev/fuse readers can be taken for a request's slow work (FsRequest.TryTakeReaderForWork)
/// only from their own threads, and never all of them: one always stays free to read the device.</summary>
public sealed class ConnectionLoadTests
{
    private static ConnectionLoad NewLoad() => new(new SemaphoreSlim(8), 8);

    /// <summary>A thread that lives as a reader of a connection does (started when constructed, ended when disposed)
    /// and runs what it is given.</summary>
    private sealed class Reader : IDisposable
    {
        private readonly BlockingCollection<Action> _work = new();
        private readonly Thread _thread;

        public Reader(ConnectionLoad load)
        {
            using var started = new ManualResetEventSlim();
            _thread = new Thread(() =>
            {
                load.ReaderStarted();
                started.Set();
                foreach (var action in _work.GetConsumingEnumerable()) action();
                load.ReaderEnded();
            });
            _thread.Start();
            started.Wait();
        }

        public T Run<T>(Func<T> body)
        {
            T result = default!;
            using var done = new ManualResetEventSlim();
            _work.Add(() => { result = body(); done.Set(); });
            done.Wait();
            return result;
        }

        public void Dispose()
        {
            _work.CompleteAdding();
            _thread.Join();
        }
    }

    [Fact]
    public void All_but_one_of_the_live_readers_can_be_taken_at_a_time()
    {
        var load = NewLoad();
        using Reader a = new(load), b = new(load), c = new(load);
        Assert.True(a.Run(load.TryTakeThisReader));
        Assert.True(b.Run(load.TryTakeThisReader));
        Assert.False(c.Run(load.TryTakeThisReader)); // two of three taken: the third stays free to read
        load.GiveBackReader();
        Assert.True(c.Run(load.TryTakeThisReader));
    }

    [Fact]
    public void A_single_reader_is_never_taken_and_a_reader_that_ended_no_longer_counts()
    {
        var load = NewLoad();
        using var a = new Reader(load);
        Assert.False(a.Run(load.TryTakeThisReader));
        using (new Reader(load))
        {
            Assert.True(a.Run(load.TryTakeThisReader));
            load.GiveBackReader();
        }
        Assert.False(a.Run(load.TryTakeThisReader)); // b ended: a is the only reader again
    }

    [Fact]
    public void Only_a_reader_of_this_connection_can_be_taken()
    {
        var load = NewLoad();
        var other = NewLoad();
        using Reader a = new(load), b = new(load), stranger = new(other), strangersPeer = new(other);
        Assert.False(load.TryTakeThisReader()); // the test's own thread reads no device
        Assert.False(stranger.Run(load.TryTakeThisReader)); // a reader of another connection
        Assert.True(a.Run(load.TryTakeThisReader));
    }
}
