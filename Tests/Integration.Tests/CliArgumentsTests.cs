using System.Text;
using Akka.Configuration;
using FuseActors.Cli;

namespace FuseActors.Integration.Tests;

/// <summary>The command-line parser without a process: <c>-o</c> lists and arguments that are not UTF-8.</summary>
public sealed class CliArgumentsTests
{
    [Fact]
    public void Dash_o_lists_are_collected_in_order_separate_or_joined()
    {
        var cli = CliArguments.Parse(["mount", "memfs", "/mnt", "-o", "size=2g,nr_inodes=1m", "-osubtype=x", "--debug"], out var error);
        Assert.Null(error);
        Assert.Equal(["size=2g,nr_inodes=1m", "subtype=x"], cli!.MountOptions);
        Assert.Equal("/mnt", cli.Mountpoint);

        Assert.Null(CliArguments.Parse(["mount", "memfs", "/mnt", "-o"], out error));
        Assert.Equal("-o needs options (-o size=2g,nr_inodes=1m)", error);
        Assert.Null(CliArguments.Parse(["cluster", "demo", "/d", "-o", "size=1m"], out error));
        Assert.Equal("-o is for `fuseactors mount`", error);
    }

    [Fact]
    public void Dash_o_options_become_the_HOCON_keys_and_the_last_one_wins()
    {
        var c = MountOptionList.ToConfig("memfs", ["size=2g,nr_inodes=1m", "noallow_other,nodefault_permissions", "subtype=my \"fs\",allow_other"], out var error)!;
        Assert.Null(error);
        Assert.Equal("2g", c.GetString("fuseactors.memory-fs.size"));
        Assert.Equal(1L << 20, c.GetLong("fuseactors.memory-fs.max-inodes"));
        Assert.True(c.GetBoolean("fuseactors.mount.allow-other"));
        Assert.False(c.GetBoolean("fuseactors.mount.default-permissions"));
        Assert.Equal("my \"fs\"", c.GetString("fuseactors.mount.subtype"));

        var options = FuseActors.Filesystems.MemoryFs.MemoryFsOptions.FromConfig(c);
        Assert.Equal(2L << 30, options.CapacityBytes);
        Assert.Equal(1L << 20, options.MaxInodes);
    }

    [Fact]
    public void Dash_o_wins_over_the_loaded_configuration()
    {
        var loaded = ConfigurationFactory.ParseString("""
            fuseactors {
              memory-fs { size = 50%
                max-inodes = 10 }
              mount.subtype = other
            }
            """);
        var c = MountOptionList.ToConfig("memfs", ["size=512m"], out _)!.WithFallback(loaded);
        Assert.Equal("512m", c.GetString("fuseactors.memory-fs.size"));
        Assert.Equal(10, c.GetLong("fuseactors.memory-fs.max-inodes"));
        Assert.Equal("other", c.GetString("fuseactors.mount.subtype"));
        Assert.True(MountOptionList.ToConfig("memfs", [], out _)!.IsEmpty);
    }

    [Theory]
    [InlineData("memfs", "size", "-o size needs a value (size=50%, 512m, 2g or bytes)")]
    [InlineData("memfs", "size=12x", "-o size: '12x' is not a size (50%, 512m, 2g or a number of bytes)")]
    [InlineData("memfs", "nr_inodes=-1", "-o nr_inodes: '-1' is not a number of inodes (a positive number with an optional k, m or g)")]
    [InlineData("memfs", "allow_other=yes", "-o allow_other takes no value")]
    [InlineData("memfs", "subtype=", "-o subtype needs a name (subtype=NAME)")]
    [InlineData("memfs", "ro", "unknown mount option 'ro' (" + MountOptionList.Known + ")")]
    [InlineData("passthrough", "size=1m", "-o size= is only for memfs")]
    [InlineData("cluster", "nr_inodes=5", "-o nr_inodes= is only for memfs")]
    public void A_bad_option_is_an_error_naming_it(string kind, string option, string message)
    {
        Assert.Null(MountOptionList.ToConfig(kind, ["allow_other", option], out var error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData("1", 1L)]
    [InlineData("64k", 64L << 10)]
    [InlineData("1M", 1L << 20)]
    [InlineData("2g", 2L << 30)]
    public void Inode_counts_take_binary_suffixes(string text, long count) => Assert.Equal(count, MountOptionList.ParseCount(text));

    [Fact]
    public void A_source_that_is_not_UTF8_keeps_its_bytes()
    {
        byte[] latin1 = [.. "/tmp/src-caf"u8, 0xE8];
        var decoded = Encoding.UTF8.GetString(latin1);
        Assert.Contains('\uFFFD', decoded);
        byte[][] raw = [[.. "mount"u8], [.. "passthrough"u8], latin1, [.. "/mnt"u8]];
        var cli = CliArguments.Parse(["mount", "passthrough", decoded, "/mnt"], out _, raw)!;
        Assert.Equal(latin1, cli.SourceBytes);

        var plain = CliArguments.Parse(["mount", "passthrough", "/tmp/café", "/mnt"], out _, null)!;
        Assert.Null(plain.SourceBytes);
    }

    [Fact]
    public void The_command_line_splits_at_each_NUL()
    {
        var parts = RawArguments.Split([.. "dotnet\0fuseactors.dll\0\0caf"u8, 0xE8, 0]);
        Assert.Equal(4, parts.Count);
        Assert.Equal("dotnet"u8.ToArray(), parts[0]);
        Assert.Empty(parts[2]);
        Assert.Equal([.. "caf"u8, 0xE8], parts[3]);
        Assert.Null(RawArguments.Read(["plain", "utf-8 é"]));
    }
}
