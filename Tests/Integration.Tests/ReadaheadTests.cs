using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Integration.Tests.Support;
using FuseActors.Integration.Tests.TestFilesystems;

namespace FuseActors.Integration.Tests;

/// <summary>
/// <c>fuseactors.connection.max-readahead</c> on a real mount: the kernel offers 128 KiB of readahead in INIT and takes
/// no more there, so a larger setting is given to the mount's bdi after INIT (MountReadahead). A cold sequential read
/// then reaches the filesystem in READs larger than 128 KiB; with the setting at 128 KiB it does not.
/// </summary>
public sealed class ReadaheadTests
{
    private const int KernelDefault = 128 * 1024;

    [Fact]
    public async Task A_readahead_above_the_kernels_offer_is_set_on_the_mount_and_cold_reads_come_in_larger_READs()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(MemoryFsOptions.Default), counts),
            new ConnectionSettings { MaxReadahead = 1 << 20 });
        uint id = fs.Mount.FuseControlId ?? throw new InvalidOperationException("no connection id");
        // No max_read on this mount: 1 MiB, in READs of max_write (1 MiB).
        const long largestRead = 1 << 20;
        Assert.Equal("1024", File.ReadAllText(MountReadahead.SysfsPath(id)).Trim());

        await ReadColdAsync(fs.Path);
        Assert.True(counts[Opcode.Read] > 0, "no READ reached the filesystem: the read was not cold");
        Assert.True(counts.LargestRead > KernelDefault, $"largest READ {counts.LargestRead} bytes in {counts[Opcode.Read]}: the kernel's 128 KiB readahead still applies");
        // Each window went out whole: 8 MiB in READs of the largest size, not one of them and one of a page.
        Assert.True(counts[Opcode.Read] <= 8 * (1 << 20) / largestRead + 4, $"{counts[Opcode.Read]} READs for 8 MiB in READs of up to {largestRead} bytes");
    }

    [Fact]
    public async Task With_max_read_below_max_write_the_readahead_is_whole_READs_and_each_window_goes_out_whole()
    {
        // max_read what a pipe here splices whole (255 pages without CAP_SYS_RESOURCE), as `fuseactors mount memfs` has.
        uint spliced = SplicedFileReply.LargestSplicedRead(1 << 20);
        long largestRead = spliced > 0 ? spliced : 1 << 20;
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(MemoryFsOptions.Default), counts),
            new ConnectionSettings { MaxReadahead = 1 << 20, Transport = FuseTransport.Device },
            new MountOptions { Subtype = "fuseactors-test", ReadsFitSplice = true });
        uint id = fs.Mount.FuseControlId ?? throw new InvalidOperationException("no connection id");
        Assert.Equal(((1 << 20) / largestRead * largestRead / 1024).ToString(), File.ReadAllText(MountReadahead.SysfsPath(id)).Trim());

        await ReadColdAsync(fs.Path);
        Assert.Equal(largestRead, counts.LargestRead);
        // 8 MiB in READs of 255 pages, not 255 pages and one: a 1 MiB window went out as both.
        Assert.True(counts[Opcode.Read] <= 8 * (1 << 20) / largestRead + 4, $"{counts[Opcode.Read]} READs for 8 MiB in READs of up to {largestRead} bytes");
    }

    [Fact]
    public async Task A_readahead_at_the_kernels_offer_leaves_the_mount_and_its_READs_as_they_were()
    {
        var counts = new RequestCounts();
        await using var fs = await MountedFilesystem.StartAsync(CountingFs.Props(MemoryFs.Props(MemoryFsOptions.Default), counts),
            new ConnectionSettings { MaxReadahead = KernelDefault });
        uint id = fs.Mount.FuseControlId ?? throw new InvalidOperationException("no connection id");
        Assert.Equal("128", File.ReadAllText(MountReadahead.SysfsPath(id)).Trim());

        await ReadColdAsync(fs.Path);
        Assert.True(counts[Opcode.Read] > 0, "no READ reached the filesystem: the read was not cold");
        Assert.True(counts.LargestRead <= KernelDefault, $"largest READ {counts.LargestRead} bytes");
    }

    [Fact]
    public async Task A_readahead_below_the_kernels_offer_is_what_INIT_gave_and_is_not_raised_again()
    {
        await using var fs = await MountedFilesystem.StartAsync(MemoryFs.Props(MemoryFsOptions.Default), new ConnectionSettings { MaxReadahead = 64 * 1024 });
        uint id = fs.Mount.FuseControlId ?? throw new InvalidOperationException("no connection id");
        Assert.Equal("64", File.ReadAllText(MountReadahead.SysfsPath(id)).Trim());
        // Raise never lowers: asked for less than the mount has, it leaves the file as it is.
        Assert.Equal(Errno.Ok, MountReadahead.Raise(id, 32 * 1024, out long? before));
        Assert.Equal(64 * 1024, before);
        Assert.Equal("64", File.ReadAllText(MountReadahead.SysfsPath(id)).Trim());
    }

    [Fact]
    public void Raise_says_ENOENT_for_a_connection_that_does_not_exist()
    {
        Assert.Equal(Errno.ENOENT, MountReadahead.Raise(uint.MaxValue, 1 << 20, out long? before));
        Assert.Null(before);
    }

    /// <summary>Writes 8 MiB, drops the file's pages (GNU dd's nocache with count=0: POSIX_FADV_DONTNEED on the whole
    /// file) and reads it back sequentially, 1 MiB per read(2).</summary>
    private static Task ReadColdAsync(string mountpoint) => Shell.OkAsync($"""
        dd if=/dev/urandom of={mountpoint}/f bs=1M count=8 status=none
        dd if={mountpoint}/f iflag=nocache count=0 status=none
        dd if={mountpoint}/f of=/dev/null bs=1M status=none
        """);
}
