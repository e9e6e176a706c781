using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>PassthroughFs's O_DIRECT opens on the daemon path skip the kernel's page cache (FOPEN_DIRECT_IO, with
/// parallel direct writes), as passthrough_hp's do; other opens do not. A WRITE whose data is not page-aligned (one
/// built by hand: the engine's own reads align it) still reaches an O_DIRECT host descriptor, through a copy.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughDirectOpenUnitTests : PassthroughTestKit
{
    public PassthroughDirectOpenUnitTests() : base(new PassthroughOptions { KernelPassthrough = false }) { }

    [Fact]
    public void Only_O_DIRECT_opens_reply_FOPEN_DIRECT_IO_with_parallel_direct_writes()
    {
        File.WriteAllText(InSource("f"), "data");
        var n = Lookup(Root, "f").NodeId;
        const FopenFlags both = FopenFlags.DirectIo | FopenFlags.ParallelDirectWrites;
        var direct = Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { Flags = OpenFlags.ReadWrite | OpenFlagsExtensions.Direct }, n)));
        var plain = Decode<FuseOpenOut>(Payload(Ok(new OpenRequest { Flags = OpenFlags.ReadWrite }, n)));
        Assert.Equal(both, (FopenFlags)direct.OpenFlags & both);
        Assert.Equal((FopenFlags)0, (FopenFlags)plain.OpenFlags & both);
        Release(n, direct.Fh);
        Release(n, plain.Fh);
    }

    [Fact]
    public unsafe void An_O_DIRECT_write_of_data_not_on_a_page_boundary_goes_out_through_an_aligned_copy_and_lands_whole()
    {
        File.WriteAllBytes(InSource("d"), []);
        var n = Lookup(Root, "d").NodeId;
        var fh = Open(n, OpenFlags.ReadWrite | OpenFlagsExtensions.Direct);
        var backing = new byte[8192 + 1];
        for (int i = 0; i < 8192; i++) backing[i + 1] = (byte)(i * 13);
        long copies = HostIo.AlignedCopies;
        var data = backing.AsMemory(1, 8192);   // an odd address: never page-aligned
        Assert.Equal(8192u, Decode<FuseWriteOut>(Payload(Ok(new WriteRequest { Fh = fh, Offset = 0, Data = data }, n))).Size);
        Release(n, fh);
        Assert.Equal(backing[1..], File.ReadAllBytes(InSource("d")));
        // Where SOURCE's filesystem takes O_DIRECT (ext4 here) the daemon's descriptor has it, and its write needed the copy.
        if (HostTakesODirect(InSource("d"))) Assert.True(HostIo.AlignedCopies > copies, "the unaligned data went to the O_DIRECT descriptor uncopied");
    }

    private static unsafe bool HostTakesODirect(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            int fd = Interop.Native.openat(Interop.Native.AT_FDCWD, p, Interop.Native.O_DIRECT, 0);
            if (fd < 0) return false;
            Interop.Native.close(fd);
            return true;
        }
    }
}
