using FuseActors.Actors.Mounting;

namespace FuseActors.Actors.Tests;

/// <summary>
/// The readahead a mount is given for <c>max-readahead</c> (FuseMount.ReadaheadFor): whole READs per window, and
/// buffered READs that a pipe can still splice when max_read is not set. Page size 4 KiB here.
/// </summary>
public sealed class ReadaheadForTests
{
    private const uint MiB = 1 << 20;
    private const uint PipeLess = MiB - 4096; // what a 1 MiB pipe holds beside the reply's header

    [Fact]
    public void A_window_above_max_read_is_a_whole_number_of_READs()
    {
        Assert.Equal(PipeLess, FuseMount.ReadaheadFor(MiB, maxRead: PipeLess, maxWrite: MiB, spliceLimit: PipeLess));
        Assert.Equal(4L * PipeLess, FuseMount.ReadaheadFor(4 * MiB, maxRead: PipeLess, maxWrite: MiB, spliceLimit: PipeLess));
        Assert.Equal(3L * 65536, FuseMount.ReadaheadFor(200_000, maxRead: 65536, maxWrite: MiB, spliceLimit: 0));
    }

    [Fact]
    public void Without_max_read_a_readahead_up_to_max_write_is_held_to_what_a_pipe_splices()
    {
        Assert.Equal(PipeLess, FuseMount.ReadaheadFor(MiB, maxRead: 0, maxWrite: MiB, spliceLimit: PipeLess));
        // Larger than max_write: taken as asked (READs of max_write, whole windows).
        Assert.Equal(4L * MiB, FuseMount.ReadaheadFor(4 * MiB, maxRead: 0, maxWrite: MiB, spliceLimit: PipeLess));
        // Pipes that hold a max_write READ whole (CAP_SYS_RESOURCE), or io_uring (no splicing): as asked.
        Assert.Equal(MiB, FuseMount.ReadaheadFor(MiB, maxRead: 0, maxWrite: MiB, spliceLimit: 0));
    }

    [Fact]
    public void A_readahead_above_16_MiB_is_taken_as_16_MiB()
    {
        Assert.Equal(16L << 20, FuseMount.ReadaheadFor(uint.MaxValue, maxRead: 0, maxWrite: MiB, spliceLimit: 0));
        Assert.Equal(16L * PipeLess, FuseMount.ReadaheadFor(64 * MiB, maxRead: PipeLess, maxWrite: MiB, spliceLimit: PipeLess));
    }

    [Fact]
    public void A_readahead_at_or_below_the_largest_READ_is_kept_as_asked()
    {
        Assert.Equal(128L * 1024, FuseMount.ReadaheadFor(128 * 1024, maxRead: PipeLess, maxWrite: MiB, spliceLimit: PipeLess));
        Assert.Equal(128L * 1024, FuseMount.ReadaheadFor(128 * 1024, maxRead: 0, maxWrite: MiB, spliceLimit: PipeLess));
        Assert.Equal(0L, FuseMount.ReadaheadFor(0, maxRead: 0, maxWrite: MiB, spliceLimit: PipeLess));
    }
}
