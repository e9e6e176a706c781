using FuseActors.Actors.Filesystem;

namespace FuseActors.Actors.Tests;

/// <summary>A request's cancellation source is made on first use; an interrupt delivered at the same moment from
/// another thread must never be lost (both sides publish with a full fence before looking at the other).</summary>
public sealed class RequestCancellationTests
{
    [Fact]
    public void An_interrupt_racing_the_first_use_of_the_token_is_never_lost()
    {
        for (int i = 0; i < 5_000; i++)
        {
            var request = new GetAttrRequest();
            using var start = new Barrier(2);
            CancellationToken token = default;
            var reader = new Thread(() => { start.SignalAndWait(); token = request.Cancellation; });
            reader.Start();
            start.SignalAndWait();
            request.DeliverCancellation();
            reader.Join();
            Assert.True(token.IsCancellationRequested, $"cancellation lost in round {i}");
        }
    }

    [Fact]
    public void A_token_taken_after_the_interrupt_is_already_cancelled()
    {
        var request = new GetAttrRequest();
        request.DeliverCancellation();
        Assert.True(request.Cancellation.IsCancellationRequested);
        Assert.True(request.IsInterrupted);
    }
}
