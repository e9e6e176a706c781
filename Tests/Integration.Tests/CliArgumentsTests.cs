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
        Assert.Equal("memfs", cli.Kind);
        Assert.True(cli.Debug);

        // Options may come before the filesystem, as with libfuse programs (`prog -o ro MOUNTPOINT`).
        cli = CliArguments.Parse(["mount", "-o", "ro", "passthrough", "/src", "/mnt", "-o", "allow_other"], out error);
        Assert.Null(error);
        Assert.Equal(["ro", "allow_other"], cli!.MountOptions);
        Assert.Equal(("passthrough", "/src", "/mnt"), (cli.Kind, cli.Source, cli.Mountpoint));

        Assert.Null(CliArguments.Parse(["mount", "memfs", "/mnt", "-o"], out error));
        Assert.Equal("Required argument missing for option: '-o'", error);
        Assert.Null(CliArguments.Parse(["cluster", "demo", "/d", "-o", "size=1m"], out error));
        Assert.Equal("unknown option -o", error);
    }

    [Theory]
    [InlineData(new[] { "mount", "memfs", "/mnt" }, false, false)]
    [InlineData(new[] { "mount", "memfs", "/mnt", "-f" }, true, false)]
    [InlineData(new[] { "mount", "memfs", "/mnt", "-d" }, true, true)]
    [InlineData(new[] { "mount", "memfs", "-f", "-d", "/mnt" }, true, true)]
    [InlineData(new[] { "mount", "memfs", "/mnt", "--debug" }, false, true)]
    public void Dash_f_is_the_foreground_and_dash_d_is_debug_in_the_foreground_as_in_libfuse(string[] args, bool foreground, bool debug)
    {
        var cli = CliArguments.Parse(args, out var error)!;
        Assert.Null(error);
        Assert.Equal((foreground, debug), (cli.Foreground, cli.Debug));
    }

    [Fact]
    public void The_cluster_options_and_the_flags_are_read()
    {
        var cli = CliArguments.Parse(["mount", "cluster", "/mnt", "--port", "4053", "--host", "10.0.0.2", "--seed", "10.0.0.1:4053",
            "--seed", "10.0.0.3:4053", "--store", "sqlite:/tmp/x.db", "--config", "/etc/f.hocon", "--unmount-dead"], out var error)!;
        Assert.Null(error);
        Assert.Equal(("cluster", 4053, "10.0.0.2", "sqlite:/tmp/x.db", "/etc/f.hocon"), (cli.Kind, cli.Port, cli.Host, cli.Store, cli.ConfigFile));
        Assert.Equal(["10.0.0.1:4053", "10.0.0.3:4053"], cli.Seeds);
        Assert.True(cli.UnmountDead);
        Assert.False(CliArguments.Parse(["mount", "memfs", "/mnt"], out _)!.UnmountDead);

        var demo = CliArguments.Parse(["cluster", "demo", "/d", "--config", "c.hocon", "--debug"], out error)!;
        Assert.Null(error);
        Assert.Equal(("cluster-demo", "/d", "c.hocon", true), (demo.Kind, demo.Mountpoint, demo.ConfigFile, demo.Debug));
        // An argument that starts with @ is a path, not a response file.
        Assert.Equal("@dir", CliArguments.Parse(["mount", "memfs", "@dir"], out _)!.Mountpoint);
    }

    [Theory]
    [InlineData("mount nosuchfs /tmp", "unknown filesystem 'nosuchfs' (memfs, passthrough, cluster)")]
    [InlineData("mount", "mount needs a filesystem (memfs, passthrough, cluster)")]
    [InlineData("nosuch", "unknown command 'nosuch' (mount, cluster)")]
    [InlineData("mount memfs", "fuseactors mount memfs needs MOUNTPOINT")]
    [InlineData("mount passthrough /src", "fuseactors mount passthrough needs MOUNTPOINT")]
    [InlineData("mount memfs /mnt /other", "unexpected argument '/other'")]
    [InlineData("mount memfs /mnt --bogus", "unknown option --bogus")]
    [InlineData("mount cluster /mnt", "Option '--port' is required")]
    [InlineData("mount cluster /mnt --port 70000", "--port wants a port number (0 to 65535), not '70000'")]
    [InlineData("mount cluster /mnt --port 1 --seed nohost", "--seed wants HOST:PORT, not 'nohost'")]
    [InlineData("mount memfs /mnt --port 1", "unknown option --port")]
    public void Bad_usage_is_one_line_naming_what_is_wrong(string args, string message)
    {
        Assert.Null(CliArguments.Parse(args.Split(' '), out var error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("mount memfs --help")]
    [InlineData("mount cluster -h")]
    [InlineData("--version")]
    public void Help_and_version_mount_nothing_and_are_no_error(string args)
    {
        Assert.Null(CliArguments.Parse(args.Split(' '), out var error));
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Commands_and_mount_options_can_be_added_and_help_and_errors_go_where_they_belong()
    {
        CliArguments? seen = null;
        var commandLine = new FuseActorsCommandLine((cli, _) => { seen = cli; return Task.FromResult(0); });
        var stats = new System.CommandLine.Option<bool>("--stats");
        commandLine.AddMountOption(stats);
        var extra = new System.CommandLine.Command("stats") { new System.CommandLine.Argument<string>("MOUNTPOINT") };
        int ran = 0;
        extra.SetAction(_ => ran++);
        commandLine.Root.Add(extra);

        Assert.Equal(0, await FuseActorsCommandLine.InvokeAsync(commandLine.Parse(["mount", "passthrough", "/src", "/mnt", "--stats"])));
        Assert.Equal("/src", seen!.Source);
        Assert.True(seen.Parsed!.GetValue(stats));
        Assert.Equal(0, await FuseActorsCommandLine.InvokeAsync(commandLine.Parse(["stats", "/mnt"])));
        Assert.Equal(1, ran);

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await FuseActorsCommandLine.InvokeAsync(commandLine.Parse(["mount", "cluster", "--help"]), output, error));
        Assert.Contains("--port <PORT>", output.ToString());
        Assert.Contains("--stats", output.ToString());
        Assert.Equal("", error.ToString());
        Assert.Equal(2, await FuseActorsCommandLine.InvokeAsync(commandLine.Parse(["stats"]), output, error));
        Assert.Equal("fuseactors: fuseactors stats needs MOUNTPOINT (see `fuseactors stats --help`)\n", error.ToString());
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
    [InlineData("memfs", "noexec", "unknown mount option 'noexec' (known: " + MountOptionList.Known + ")")]
    [InlineData("memfs", "ro=1", "-o ro takes no value")]
    [InlineData("memfs", "nodev=1", "-o nodev takes no value")]
    [InlineData("memfs", "fsname=", "-o fsname needs a name (fsname=NAME)")]
    [InlineData("memfs", "max_read=0", "-o max_read: '0' is not a number of bytes")]
    [InlineData("memfs", "max_read", "-o max_read needs a value (max_read=N, a number of bytes)")]
    [InlineData("memfs", "max_write=1024", "-o max_write: '1024' is not a number of bytes from 4096 to 1048576")]
    [InlineData("memfs", "max_write=2097152", "-o max_write: '2097152' is not a number of bytes from 4096 to 1048576")]
    [InlineData("memfs", "max_readahead=-1", "-o max_readahead: '-1' is not a number of bytes")]
    [InlineData("memfs", "max_background=0", "-o max_background: '0' is not a number from 1 to 65535")]
    [InlineData("memfs", "congestion_threshold=65536", "-o congestion_threshold: '65536' is not a number from 1 to 65535")]
    [InlineData("memfs", "entry_timeout=-1", "-o entry_timeout: '-1' is not a number of seconds (e.g. 1 or 0.5, at most a year)")]
    [InlineData("memfs", "attr_timeout=1s", "-o attr_timeout: '1s' is not a number of seconds (e.g. 1 or 0.5, at most a year)")]
    [InlineData("memfs", "negative_timeout=NaN", "-o negative_timeout: 'NaN' is not a number of seconds (e.g. 1 or 0.5, at most a year)")]
    [InlineData("memfs", "negative_timeout", "-o negative_timeout needs a value (negative_timeout=SECONDS, e.g. 1 or 0.5)")]
    [InlineData("passthrough", "size=1m", "-o size= is only for memfs")]
    [InlineData("cluster", "nr_inodes=5", "-o nr_inodes= is only for memfs")]
    public void A_bad_option_is_an_error_naming_it(string kind, string option, string message)
    {
        Assert.Null(MountOptionList.ToConfig(kind, ["allow_other", option], out var error));
        Assert.Equal(message, error);
    }

    [Fact]
    public void The_libfuse_options_become_the_mount_and_connection_keys()
    {
        var c = MountOptionList.ToConfig("passthrough", ["ro,fsname=my src,max_read=65536,auto_unmount",
            "max_write=131072,max_readahead=0,max_background=32,congestion_threshold=24",
            "entry_timeout=1.5,attr_timeout=0,negative_timeout=2", "nodev,nosuid,exec,async,atime"], out var error)!;
        Assert.Null(error);
        Assert.True(c.GetBoolean("fuseactors.mount.read-only"));
        Assert.Equal("my src", c.GetString("fuseactors.mount.fsname"));
        Assert.Equal(65536, c.GetLong("fuseactors.mount.max-read"));
        Assert.True(c.GetBoolean("fuseactors.mount.auto-unmount"));
        Assert.Equal(131072, c.GetLong("fuseactors.connection.max-write"));
        Assert.Equal(0, c.GetLong("fuseactors.connection.max-readahead"));
        Assert.Equal(32, c.GetInt("fuseactors.connection.max-background"));
        Assert.Equal(24, c.GetInt("fuseactors.connection.congestion-threshold"));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), c.GetTimeSpan("fuseactors.connection.entry-timeout"));
        Assert.Equal(TimeSpan.Zero, c.GetTimeSpan("fuseactors.connection.attr-timeout"));
        Assert.Equal(TimeSpan.FromSeconds(2), c.GetTimeSpan("fuseactors.connection.negative-timeout"));
        // The harmless ones add no key.
        Assert.False(c.HasPath("fuseactors.mount.nodev"));

        // The engine reads the connection keys as given.
        var settings = FuseActors.Actors.Connection.ConnectionSettings.FromConfig(c);
        Assert.Equal((131072u, 0u, (ushort)32, (ushort)24), (settings.MaxWrite, settings.MaxReadahead, settings.MaxBackground, settings.CongestionThreshold));
        Assert.Equal((1500.0, 0.0, 2000.0), (settings.EntryTimeout.TotalMilliseconds, settings.AttrTimeout.TotalMilliseconds, settings.NegativeTimeout.TotalMilliseconds));

        // rw undoes ro; the last one of a key wins.
        var rw = MountOptionList.ToConfig("memfs", ["ro", "rw"], out _)!;
        Assert.False(rw.GetBoolean("fuseactors.mount.read-only"));
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

/// <summary>A configuration file that is not HOCON is refused with the file and the line it failed on.</summary>
public sealed class ConfigFileTests
{
    [Theory]
    [InlineData("fuseactors {\n  mount {\n    subtype = x\n\nakka.loglevel = INFO\n", "line 2: '{' is never closed")]
    [InlineData("fuseactors {\n  mount.subtype = x\n}\n}\n", "line 4: '}' closes nothing")]
    [InlineData("a = [1,\n  2 }\n", "line 2: '}' does not close the '[' of line 1")]
    [InlineData("a = 1\nb = \"no end\n", "line 2: a quoted string does not end on its line")]
    [InlineData("a = 1\nb = \"\"\"never\nclosed\n", "line 2: a triple-quoted string is never closed")]
    public void Brackets_and_strings_that_do_not_pair_are_named_with_their_line(string text, string where)
    {
        var e = Assert.Throws<ConfigFileException>(() => ConfigFile.Parse(text, "/etc/x.hocon"));
        Assert.Equal($"configuration file /etc/x.hocon does not parse: {where}", e.Message);
    }

    [Theory]
    // Akka's parser takes much (`c = `, `= 5`, `[1,,2]`) but not a substitution of nothing.
    [InlineData("a = 1\nb = 2\nc = ${nosuch}\n", 3)]
    [InlineData("fuseactors {\n  mount {\n    subtype = x\n    allow-other = on\n    x = ${missing.key}\n  }\n}\n", 5)]
    public void A_parser_error_is_placed_at_its_line(string text, int line)
    {
        var e = Assert.Throws<ConfigFileException>(() => ConfigFile.Parse(text, "f.hocon"));
        Assert.StartsWith($"configuration file f.hocon does not parse: line {line}: Unresolved substitution", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_good_file_parses_and_a_missing_one_is_named()
    {
        var c = ConfigFile.Parse(""""
            # a comment with { and "
            fuseactors { // another }
              mount.subtype = "a}b{"
              x = ${fuseactors.mount.subtype}
              list = [1, 2,
                3]
              text = """multi
            line } ["""
            }
            """", "ok.hocon");
        Assert.Equal("a}b{", c.GetString("fuseactors.mount.subtype"));
        Assert.Equal("a}b{", c.GetString("fuseactors.x"));
        Assert.Equal([1, 2, 3], c.GetIntList("fuseactors.list"));

        var e = Assert.Throws<ConfigFileException>(() => ConfigFile.Load("/nonexistent/fuseactors.hocon"));
        Assert.Equal("configuration file /nonexistent/fuseactors.hocon does not exist", e.Message);
    }
}
