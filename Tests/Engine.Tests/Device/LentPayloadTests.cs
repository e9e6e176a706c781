using FuseActors.Engine.Device;

namespace FuseActors.Engine.Tests.Device;

/// <summary>
/// A WRITE's data left in an io_uring entry: used in place only on the queue's thread and only while the entry is not
/// committed; copied into the request's buffer before any commit that would let the kernel refill the entry while the
/// request may still read it; never copied when the request let go of it first; and a request whose entry has moved on
/// to another WRITE never sees that one's data.
/// </summary>
public sealed unsafe class LentPayloadTests
{
    private readonly byte[] _entry = GC.AllocateArray<byte>(4096, pinned: true);
    private readonly byte[] _requestBuffer = new byte[4096];
    private bool _onOwner = true;
    private readonly LentPayload _lent;

    public LentPayloadTests()
    {
        _lent = new LentPayload(_entry, 0, () => _onOwner);
    }

    private long LendFilled(byte value, int length = 1000)
    {
        _entry.AsSpan(0, length).Fill(value);
        long ticket = _lent.Lend(length);
        _lent.SetDestination(ticket, _requestBuffer.AsMemory(0, length));
        return ticket;
    }

    [Fact]
    public void Data_used_anywhere_else_is_copied_into_the_request_buffer_once_and_the_entry_may_then_be_committed()
    {
        long ticket = LendFilled(7);
        _onOwner = false;
        Assert.False(_lent.TryLease(ticket, out _)); // off the queue's thread: the copy
        _lent.EnsureCopied(ticket);
        Assert.All(_requestBuffer.AsSpan(0, 1000).ToArray(), b => Assert.Equal(7, b));
        _entry.AsSpan().Fill(9); // the kernel's next request
        _lent.EnsureCopied(ticket);
        Assert.Equal(7, _requestBuffer[0]); // copied once: the later entry contents never reach it
        Assert.True(_lent.ReadyToCommit());
    }

    [Fact]
    public void A_lease_on_the_queue_thread_reads_the_entry_in_place_and_holds_the_commit_until_it_ends()
    {
        long ticket = LendFilled(3);
        Assert.True(_lent.TryLease(ticket, out var inPlace));
        fixed (byte* e = _entry) fixed (byte* d = inPlace) Assert.True(e == d, "the lease is the entry's own memory");
        Assert.Equal(1000, inPlace.Length);
        Assert.False(_lent.ReadyToCommit());
        Assert.Equal(0, _requestBuffer[0]); // nothing copied
        Assert.Equal(1, _lent.Leases);

        _lent.EndLease(ticket);
        // Still not let go (the engine may have answered early): committing now copies it first.
        Assert.True(_lent.ReadyToCommit());
        Assert.Equal(3, _requestBuffer[999]);
    }

    [Fact]
    public void Data_let_go_is_never_copied_even_when_let_go_during_a_lease()
    {
        long ticket = LendFilled(5);
        _lent.Release(ticket);
        Assert.True(_lent.ReadyToCommit());
        Assert.Equal(0, _requestBuffer[0]);

        ticket = LendFilled(6);
        Assert.True(_lent.TryLease(ticket, out _));
        _lent.Release(ticket); // answered from inside the lease
        Assert.False(_lent.ReadyToCommit());
        _lent.EndLease(ticket);
        Assert.True(_lent.ReadyToCommit());
        Assert.Equal(0, _requestBuffer[0]);
    }

    [Fact]
    public void A_copy_asked_for_during_a_lease_reads_the_data_whole_without_ending_the_lease()
    {
        long ticket = LendFilled(4);
        Assert.True(_lent.TryLease(ticket, out _));
        _lent.EnsureCopied(ticket); // another thread reads Data while the queue thread writes it out
        Assert.Equal(4, _requestBuffer[500]);
        Assert.False(_lent.ReadyToCommit());
        _lent.EndLease(ticket);
        Assert.True(_lent.ReadyToCommit());
    }

    [Fact]
    public void Once_copied_a_lease_is_refused_and_the_copy_is_used()
    {
        long ticket = LendFilled(8);
        _lent.EnsureCopied(ticket);
        Assert.False(_lent.TryLease(ticket, out _));
    }

    [Fact]
    public void A_request_whose_entry_moved_on_to_the_next_WRITE_never_gets_that_data()
    {
        long first = LendFilled(1);
        _lent.Release(first);
        Assert.True(_lent.ReadyToCommit());
        var other = new byte[4096];
        long second = _lent.Lend(1000);
        _entry.AsSpan(0, 1000).Fill(2);
        _lent.SetDestination(second, other.AsMemory(0, 1000));

        _lent.EnsureCopied(first);   // a straggler of the first request
        Assert.Equal(0, _requestBuffer[0]);
        Assert.False(_lent.TryLease(first, out _));
        _lent.Release(first);        // changes nothing for the second
        _lent.SetDestination(first, _requestBuffer);
        Assert.True(_lent.TryLease(second, out var data));
        Assert.Equal(2, data[0]);
        _lent.EndLease(second);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_copy_asked_for_on_another_thread_during_a_lease_waits_for_it_and_never_reads_the_next_WRITE(bool letGo)
    {
        // The queue's thread leases, ends the lease (the request having let go of its data, or not), commits and sees
        // the entry refilled while another thread asks for the copy: that copy is whole or not made (let go), never
        // part of the next WRITE's bytes.
        const int size = 1 << 20;
        var entry = GC.AllocateArray<byte>(size, pinned: true);
        int owner = Environment.CurrentManagedThreadId;
        LentPayload lent;
        lent = new LentPayload(entry, 0, () => Environment.CurrentManagedThreadId == owner);
        for (int i = 0; i < 100; i++)
        {
            byte value = (byte)(i % 200 + 1);
            entry.AsSpan().Fill(value);
            long ticket = lent.Lend(size);
            var destination = new byte[size];
            lent.SetDestination(ticket, destination);
            Assert.True(lent.TryLease(ticket, out _));
            using var started = new ManualResetEventSlim();
            var copier = new Thread(() =>
            {
                started.Set();
                lent.EnsureCopied(ticket);
            });
            copier.Start();
            started.Wait();
            Thread.SpinWait(2000);
            if (letGo) lent.Release(ticket);
            lent.EndLease(ticket);
            Assert.True(lent.ReadyToCommit());
            entry.AsSpan().Fill(0xEE); // committed: the kernel's next request
            Assert.True(copier.Join(TimeSpan.FromSeconds(10)));
            bool whole = !destination.AsSpan().ContainsAnyExcept(value), untouched = !destination.AsSpan().ContainsAnyExcept((byte)0);
            Assert.True(whole || (letGo && untouched), $"round {i}: the copy holds bytes of the next WRITE");
        }
    }
}
