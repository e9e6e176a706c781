using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>PassthroughFs's O_DIRECT opens on the daemon path skip the kernel's page cache (FOPEN_DIRECT_IO, with
/// parallel direct writes), as passthrough_hp's do; other opens do not.</summary>
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
}
