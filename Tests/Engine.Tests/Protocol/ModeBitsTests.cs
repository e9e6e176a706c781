using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests.Protocol;

/// <summary>The set-id bits a write or truncate by a caller without CAP_FSETID removes, by the kernel's FUSE rule
/// (fuse_setattr): set-user-id always, set-group-id only together with group execute; nothing else changes.</summary>
public sealed class ModeBitsTests
{
    [Theory]
    [InlineData(0x8000u | 0b110_111_111_111u, 0x8000u | 0b000_111_111_111u)] // 06777 -> 0777
    [InlineData(0x8000u | 0b110_111_110_111u, 0x8000u | 0b010_111_110_111u)] // 06767 -> 02767: no group execute
    [InlineData(0x8000u | 0b100_111_111_111u, 0x8000u | 0b000_111_111_111u)] // 04777 -> 0777
    [InlineData(0x8000u | 0b010_111_111_111u, 0x8000u | 0b000_111_111_111u)] // 02777 -> 0777
    [InlineData(0x8000u | 0b001_111_111_111u, 0x8000u | 0b001_111_111_111u)] // 01777 stays: sticky is not a set-id bit
    [InlineData(0x8000u | 0b000_110_100_100u, 0x8000u | 0b000_110_100_100u)] // 0644 stays
    public void WithoutSetIdOnWrite_removes_what_the_kernel_removes(uint mode, uint expected) =>
        Assert.Equal(expected, ModeBits.WithoutSetIdOnWrite(mode));
}
