using FuseActors.Actors.Mounting;

namespace FuseActors.Actors.Tests;

/// <summary>
/// The readahead a mount is given for <c>max-readahead</c> (FuseMount.ReadaheadFor): a whole number of the largest READ
/// per window, at most 16 MiB, and what was asked at or below one READ. Page size 4 KiB here.
/// </summary>
public sealed class ReadaheadForTests
{
    private const uint MiB = 1 << 20;
    private const uint PipeLess = MiB - 4096; // max_read where a 1 MiB pipe must hold the reply's header too

    [Fact]
    public void A_window_above_max_read_is_a_whole_number_of_READs()
    {
        Assert.Equal(PipeLess, FuseMount.ReadaheadFor(MiB, maxRead: PipeLess, maxWrite: MiB));
        Assert.Equal(4L * PipeLess, FuseMount.ReadaheadFor(4 * MiB, maxRead: PipeLess, maxWrite: MiB));
        Assert.Equal(3L * 65536, FuseMount.ReadaheadFor(200_000, maxRead: 65536, maxWrite: MiB));
        // max_read above max_write: READs of max_write. One that is not a page multiple: the kernel's whole pages.
        Assert.Equal(2L * MiB, FuseMount.ReadaheadFor(2 * MiB + 5000, maxRead: 2 * MiB, maxWrite: MiB));
        Assert.Equal(2L * 98304, FuseMount.ReadaheadFor(200_000, maxRead: 100_000, maxWrite: MiB));
    }

    [Fact]
    public void Without_max_read_the_windows_are_whole_READs_of_max_write()
    {
        Assert.Equal(MiB, FuseMount.ReadaheadFor(MiB, maxRead: 0, maxWrite: MiB));
        Assert.Equal(4L * MiB, FuseMount.ReadaheadFor(4 * MiB + 123, maxRead: 0, maxWrite: MiB));
    }

    [Fact]
    public void A_readahead_above_16_MiB_is_taken_as_16_MiB()
    {
        Assert.Equal(16L << 20, FuseMount.ReadaheadFor(uint.MaxValue, maxRead: 0, maxWrite: MiB));
        Assert.Equal(16L * PipeLess, FuseMount.ReadaheadFor(64 * MiB, maxRead: PipeLess, maxWrite: MiB));
    }

    [Fact]
    public void A_readahead_at_or_below_the_largest_READ_is_kept_as_asked()
    {
        Assert.Equal(128L * 1024, FuseMount.ReadaheadFor(128 * 1024, maxRead: PipeLess, maxWrite: MiB));
        Assert.Equal(128L * 1024, FuseMount.ReadaheadFor(128 * 1024, maxRead: 0, maxWrite: MiB));
        Assert.Equal(0L, FuseMount.ReadaheadFor(0, maxRead: 0, maxWrite: MiB));
    }
}
