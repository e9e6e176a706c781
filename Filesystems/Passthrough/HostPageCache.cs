using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Interop;
using static FuseActors.Filesystems.Interop.Native;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// Whether the host's page cache holds a range of a file whole (cachestat(2), Linux 6.5+): PassthroughFs then answers
/// such a READ from those pages at once, spliced into /dev/fuse or read straight into the ring entry over io_uring, with
/// no copy in the daemon. cachestat reads nothing and never waits; a page it counts may still be on its way in (the
/// host's readahead under way), so the range's last byte is read without waiting too (<c>RWF_NOWAIT</c>). What is left
/// to chance, on the actor's thread where it is asked: an earlier page still on its way in after the last one arrived,
/// a page evicted between the look and the splice, or xfs holding the file's lock for a writer on the host; the splice
/// then waits for that, as an O_DIRECT read on a local disk does there (see <c>PassthroughFs.Read</c>). Asked only for
/// files on a local disk, whose waits are bounded.
/// </summary>
internal static unsafe class HostPageCache
{
    private static readonly long PageSize = Environment.SystemPageSize;
    // ENOSYS (a kernel before 6.5): not asked again; every READ then takes the copying path.
    private static bool s_unsupported;

    /// <summary>True when every page of the range is cached; false when not, or when the host will not say (the
    /// handle is then not asked again: <see cref="OpenHandle.CachestatRefused"/>).</summary>
    public static bool HoldsWhole(OpenHandle h, long offset, int length)
    {
        if (s_unsupported || h.CachestatRefused || length <= 0) return false;
        var range = new CachestatRange { Offset = (ulong)offset, Length = (ulong)length };
        Cachestat stat;
        if (cachestat(h.Fd, &range, &stat) < 0)
        {
            var e = LastError();
            if (e == Errno.ENOSYS) s_unsupported = true;
            else if (e != Errno.EINTR) h.CachestatRefused = true;
            return false;
        }
        long pages = (offset + length - 1) / PageSize - offset / PageSize + 1;
        if (stat.Cached < (ulong)pages) return false;
        // cachestat also counts pages still on their way in (the host's readahead under way). Readahead asks for pages
        // in order, so when the range's last byte can be read without waiting, the rest nearly always can too.
        byte last;
        var iov = new Iovec { Base = &last, Length = 1 };
        nint n;
        do n = preadv2(h.Fd, &iov, 1, offset + length - 1, RWF_NOWAIT);
        while (n < 0 && LastError() == Errno.EINTR);
        return n == 1;
    }
}
