using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// On /dev/fuse a READ answered from a file is spliced into the device (one copy, by the kernel, where a pread into a
/// buffer and its write are two): MemoryFs's from a large file's memfd, PassthroughFs's from the host file. For
/// MemoryFs, <see cref="MountOptions.ReadsFitSplice"/> makes the mount's max_read what a pipe here can hold whole. What
/// arrives is the file's bytes exactly, on aligned and unaligned offsets, across holes and at the end of the file, and
/// the memfd keeps its pages (a splice that moved them would leave holes behind).
/// </summary>
[Collection(DropsPageCache.Name)]
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

    [Fact]
    public async Task Buffered_reads_of_a_passthrough_file_are_spliced_from_the_host_file_and_arrive_whole()
    {
        // A SOURCE on a local disk (ext4 in a loop image): a READ of a range the host has cached whole is spliced by the
        // actor at once; one that has to wait for the disk goes off the actor first. Exact either way, on aligned and
        // unaligned ranges and at the end of the file.
        if (Environment.UserName != "root") return; // loop mount: root only (CI runs as root)
        using var temp = new TempDirectory("fuseactors-ptsplice-");
        await Ext4LoopMount.WithAsync(temp.Path, "64M", "defaults", async host =>
        {
            // max_read what a pipe holds (as for MemoryFs): the mount's 1 MiB readahead sends READs of up to max_write
            // otherwise, and a pipe without CAP_SYS_RESOURCE holds no such reply whole (those are copied, not spliced).
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(host, new PassthroughOptions { KernelPassthrough = false }), OnDevice,
                new MountOptions { Subtype = "fuseactors-test", ReadsFitSplice = true });
            var src = Path.Combine(temp.Path, "src");
            // Just written on the host: its page cache holds every page, so each READ is spliced by the actor at once.
            await Shell.OkAsync($$"""
                set -e
                head -c 5242999 /dev/urandom > {{src}} && cp {{src}} {{host}}/big
                cat big > {{src}}.cached && cmp {{src}}.cached {{src}}
                """, fs.Path);
            long fromCache = fs.Mount.SplicedReplies;
            // Before Linux 6.5 (no cachestat) the host cannot say what it holds: those READs are copied.
            if (Environment.OSVersion.Version >= new Version(6, 5))
                Assert.True(fromCache >= 5, $"only {fromCache} READ replies of 5 MiB the host had cached were spliced");
            // Nothing cached: the READs that have to wait for the disk are made off the actor and copied (the engine could
            // not answer a spliced one after a timeout); what the host's readahead brought in meanwhile is spliced. All
            // of it arrives whole.
            await Shell.OkAsync($$"""
                set -e
                sync && echo 3 > /proc/sys/vm/drop_caches
                cat big > {{src}}.cold && cmp {{src}}.cold {{src}}
                echo 3 > /proc/sys/vm/drop_caches
                dd if=big bs=1000000 skip=4097 count=2 iflag=skip_bytes status=none > {{src}}.part
                dd if={{src}} bs=1000000 skip=4097 count=2 iflag=skip_bytes status=none | cmp - {{src}}.part
                test "$(dd if=big bs=1M skip=5 status=none | wc -c)" = 119
                """, fs.Path, timeout: TimeSpan.FromMinutes(1));
        });
    }

    [Fact]
    public async Task Reads_of_a_passthrough_file_in_memory_are_spliced_from_the_host_file()
    {
        // A SOURCE on tmpfs: nothing there waits for a device, so PassthroughFs makes its host reads on the actor
        // (HostIo.Read), and a buffered READ is answered from the file itself.
        if (Environment.UserName != "root") return; // a tmpfs mount of its own: root only (CI runs as root)
        using var temp = new TempDirectory("fuseactors-ptsplice-");
        await Shell.OkAsync($"mount -t tmpfs -o size=16m fuseactors-test {temp.Path}");
        try
        {
            await using var fs = await MountedFilesystem.StartAsync(PassthroughFs.Props(temp.Path, new PassthroughOptions { KernelPassthrough = false }), OnDevice);
            await Shell.OkAsync($$"""
                set -e
                head -c 3000000 /dev/urandom > {{temp.Path}}/big
                cat big | cmp - {{temp.Path}}/big
                dd if=big bs=100000 skip=4097 count=3 iflag=skip_bytes status=none | cmp - <(dd if={{temp.Path}}/big bs=100000 skip=4097 count=3 iflag=skip_bytes status=none)
                test "$(dd if=big bs=1M skip=2 status=none | wc -c)" = 902848
                """, fs.Path);
            long spliced = fs.Mount.SplicedReplies;
            Assert.True(spliced >= 3, $"only {spliced} READ replies were spliced");
        }
        finally
        {
            await Shell.RunAsync($"umount -l {temp.Path}");
        }
    }
}
