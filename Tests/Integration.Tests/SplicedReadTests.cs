using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// On /dev/fuse a READ that MemoryFs answers from a large file's memfd is spliced into the device (one copy, by the
/// kernel, where a pread into a buffer and its write are two): with <see cref="MountOptions.ReadsFitSplice"/> the mount's
/// max_read is what a pipe here can hold whole. What arrives is the file's bytes exactly, on aligned and unaligned
/// offsets, across holes and at the end of the file, and the memfd keeps its pages (a splice that moved them would leave
/// holes behind).
/// </summary>
public sealed class SplicedReadTests
{
    private static readonly ConnectionSettings OnDevice = new() { Transport = FuseTransport.Device };

    [Fact]
    public async Task Reads_of_a_memfd_file_are_spliced_into_the_device_and_arrive_whole()
    {
        uint expectedMaxRead = SplicedFileReply.LargestSplicedRead(1 << 20);
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(), OnDevice,
            new MountOptions { Subtype = "fuseactors-test", ReadsFitSplice = true });
        var mountLine = File.ReadLines("/proc/self/mounts").Single(l => l.Split(' ')[1] == fs.Path);
        if (expectedMaxRead > 0) Assert.Contains($",max_read={expectedMaxRead}", mountLine);
        else Assert.DoesNotContain("max_read=", mountLine);

        await Shell.OkAsync("""
            set -e
            src=/tmp/fuseactors-splice-src.$$
            trap 'rm -f $src $src.sparse' EXIT
            head -c 5242999 /dev/urandom > $src && cp $src big
            # A sparse file, made the same way on the host: its holes come out of the memfd as zero pages.
            for f in sparse $src.sparse; do
              truncate -s 3M $f && printf middle | dd of=$f bs=1 seek=1500000 conv=notrunc status=none
            done
            echo 3 > /proc/sys/vm/drop_caches
            dd if=big of=copy-direct bs=1M iflag=direct status=none && cmp copy-direct $src
            cat big > copy-buffered && cmp copy-buffered $src
            # Unaligned: 1020 KiB from 4097 spans 256 pages, one more than a 1 MiB pipe holds beside the header, so
            # without CAP_SYS_RESOURCE it is copied instead; a smaller unaligned range is spliced.
            dd if=big bs=1044480 skip=4097 count=1 iflag=skip_bytes,direct status=none > part
            dd if=$src bs=1044480 skip=4097 count=1 iflag=skip_bytes status=none | cmp - part
            dd if=big bs=1000000 skip=4097 count=2 iflag=skip_bytes,direct status=none > part
            dd if=$src bs=1000000 skip=4097 count=2 iflag=skip_bytes status=none | cmp - part
            test "$(dd if=big bs=1M skip=5 iflag=direct status=none | wc -c)" = 119
            dd if=sparse bs=1M iflag=direct status=none | cmp - $src.sparse
            # The memfd still holds every page after all that splicing.
            echo 3 > /proc/sys/vm/drop_caches
            dd if=big bs=1M iflag=direct status=none | cmp - $src
            """, fs.Path);
        long spliced = fs.Mount.SplicedReplies;
        Assert.True(spliced >= 10, $"only {spliced} READ replies were spliced");
    }
}
