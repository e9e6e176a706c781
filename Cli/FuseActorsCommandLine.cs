using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace FuseActors.Cli;

/// <summary>
/// The <c>fuseactors</c> command tree on System.CommandLine:
/// <code>
/// fuseactors mount memfs MOUNTPOINT
/// fuseactors mount passthrough SOURCE MOUNTPOINT
/// fuseactors mount cluster MOUNTPOINT --port PORT [--host HOST] [--seed HOST:PORT]... [--store STORE]
///   (every mount: [-o OPTIONS]... [-f] [-d] [--debug] [--config FILE] [--unmount-dead])
/// fuseactors cluster demo DIR [--store STORE] [--config FILE] [--debug]
/// </code>
/// <c>--help</c>/<c>-h</c> (every command) print to stdout and exit 0, <c>--version</c> prints the informational
/// version; a usage error is one line on stderr and exit 2 (<see cref="InvokeAsync"/>).
/// Extension points: <see cref="Root"/> takes more commands (<c>Root.Add(new Command("stats", ...))</c>);
/// <see cref="AddMountOption"/> adds an option to every mount command (a runner reads it back with
/// <c>cli.Parsed!.GetValue(option)</c>).
/// </summary>
internal sealed class FuseActorsCommandLine
{
    /// <summary>What a mount or cluster demo command runs: its arguments, a token cancelled by nobody (signals are the
    /// command's own business), its exit code.</summary>
    public delegate Task<int> Runner(CliArguments cli, CancellationToken cancellationToken);

    public RootCommand Root { get; }
    public Command Mount { get; }
    public Command Cluster { get; }

    /// <summary>The mount commands (memfs, passthrough, cluster), for options that every mount takes.</summary>
    public IReadOnlyList<Command> MountCommands => [_memfs, _passthrough, _cluster];

    private readonly Command _memfs, _passthrough, _cluster, _demo;
    private readonly Argument<string> _memfsMountpoint = new("MOUNTPOINT") { Description = "An empty directory to mount on" };
    private readonly Argument<string> _passthroughSource = new("SOURCE") { Description = "The host directory to mirror (any bytes but NUL: a name that is not UTF-8 works)" };
    private readonly Argument<string> _passthroughMountpoint = new("MOUNTPOINT") { Description = "An empty directory to mount on" };
    private readonly Argument<string> _clusterMountpoint = new("MOUNTPOINT") { Description = "An empty directory to mount on" };
    private readonly Argument<string> _demoDir = new("DIR") { Description = "Where the three nodes mount (DIR/a, DIR/b, DIR/c) and keep their store (DIR/store.db)" };

    private readonly Option<string[]> _mountOptions = new("-o")
    {
        HelpName = "OPTIONS",
        Description = "Mount options, comma-separated, repeatable, as libfuse spells them; they win over --config: " +
                      "ro, rw, allow_other, default_permissions (and noallow_other, nodefault_permissions), fsname=NAME, subtype=NAME, " +
                      "max_read=BYTES, auto_unmount, max_write=BYTES, max_readahead=BYTES, max_background=N, congestion_threshold=N, " +
                      "entry_timeout=SECONDS, attr_timeout=SECONDS, negative_timeout=SECONDS; memfs: size=50%|512m|2g|BYTES, nr_inodes=N[k|m|g]; " +
                      "accepted as the mount always is so: nodev, nosuid, exec, async, atime",
        Recursive = true,
    };
    private readonly Option<bool> _foreground = new("-f") { Description = "Stay in the foreground (libfuse's -f; fuseactors always does)", Recursive = true };
    private readonly Option<bool> _debugForeground = new("-d") { Description = "Debug: --debug and -f (libfuse's -d)", Recursive = true };
    private readonly Option<bool> _debug = new("--debug") { Description = "Log every request and reply (opcode, unique, node, errno, microseconds) and debug-level logs" };
    private readonly Option<string> _config = new("--config") { HelpName = "FILE", Description = "A HOCON file whose settings win over akka.hocon's" };
    private readonly Option<bool> _unmountDead = new("--unmount-dead")
    {
        Description = "A dead FUSE mount at MOUNTPOINT (its daemon killed) is lazily unmounted first instead of being an error",
        Recursive = true,
    };
    private readonly Option<int?> _port = new("--port")
    {
        HelpName = "PORT", Required = true, Description = "Where this node's Akka.Remote listens for the others",
        CustomParser = r => ParsePort(r),
    };
    private readonly Option<string> _host = new("--host") { HelpName = "HOST", Description = "This node's address as the others reach it", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<string[]> _seeds = new("--seed") { HelpName = "HOST:PORT", Description = "A node to join (repeatable); none: form a new cluster" };
    private readonly Option<string> _store = new("--store")
    {
        HelpName = "STORE",
        Description = "sqlite:PATH or postgresql:CONNECTION-STRING (default: fuseactors/cluster.db in the user's data directory; for the demo DIR/store.db)",
    };

    private IReadOnlyList<string> _args = [];
    private IReadOnlyList<byte[]>? _rawArgs;

    public FuseActorsCommandLine(Runner run)
    {
        Root = new RootCommand("FuseActors: FUSE filesystems on Akka.NET, mounted in the foreground; SIGINT, SIGTERM and SIGHUP unmount cleanly");
        _seeds.Validators.Add(r =>
        {
            foreach (var seed in r.Tokens.Select(t => t.Value))
            {
                int colon = seed.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], out int p) || p is <= 0 or > 65535)
                {
                    r.AddError($"--seed wants HOST:PORT, not '{seed}'");
                    return;
                }
            }
        });

        _memfs = new Command("memfs", "Mount the in-memory POSIX filesystem") { _memfsMountpoint };
        _passthrough = new Command("passthrough", "Mirror a host directory") { _passthroughSource, _passthroughMountpoint };
        _cluster = new Command("cluster", "Mount one node of the cluster filesystem (Akka.Cluster; one store for all nodes)")
        {
            _clusterMountpoint, _port, _host, _seeds, _store,
        };
        Mount = new Command("mount", "Mount a filesystem and serve it until SIGINT, SIGTERM or SIGHUP (or an unmount)")
        {
            _mountOptions, _foreground, _debugForeground, _unmountDead, _memfs, _passthrough, _cluster,
        };
        // --debug and --config also belong to `cluster demo`: added to each command rather than made global, so that
        // commands added later (stats, debug) do not take them unless they mean to.
        _debug.Recursive = true;
        _config.Recursive = true;
        Mount.Add(_debug);
        Mount.Add(_config);

        _demo = new Command("demo", "Three cluster nodes on this machine, each its own process, mounted at DIR/a, DIR/b, DIR/c")
        {
            _demoDir, _store, _config, _debug,
        };
        Cluster = new Command("cluster", "The cluster filesystem's helpers") { _demo };
        Root.Add(Mount);
        Root.Add(Cluster);

        foreach (var command in new[] { _memfs, _passthrough, _cluster, _demo })
            command.SetAction((result, ct) => run(Read(result), ct));
    }

    /// <summary>Adds <paramref name="option"/> to every mount command (memfs, passthrough, cluster).</summary>
    public void AddMountOption(Option option)
    {
        option.Recursive = true;
        Mount.Add(option);
    }

    /// <summary>Parses <paramref name="args"/>. <paramref name="rawArgs"/>: the same arguments as bytes
    /// (<see cref="RawArguments"/>), for a SOURCE that is not valid UTF-8. No response files (<c>@FILE</c> is a
    /// path like any other).</summary>
    public ParseResult Parse(IReadOnlyList<string> args, IReadOnlyList<byte[]>? rawArgs = null)
    {
        _args = args;
        _rawArgs = rawArgs;
        return Root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
    }

    /// <summary>Runs what <paramref name="result"/> asks for: help and version on stdout with exit 0, a usage error as
    /// one line on stderr with exit 2, else the command's runner.</summary>
    public static async Task<int> InvokeAsync(ParseResult result, TextWriter? output = null, TextWriter? error = null)
    {
        error ??= Console.Error;
        if (UsageError(result) is { } message)
        {
            await error.WriteLineAsync($"fuseactors: {message} (see `{CommandPath(result.CommandResult)} --help`)");
            return 2;
        }
        // No process-termination handling of System.CommandLine's own: a mount handles its signals itself.
        return await result.InvokeAsync(new InvocationConfiguration
        {
            Output = output ?? Console.Out,
            Error = error,
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        });
    }

    /// <summary>The first usage error in <paramref name="result"/> as one line, or null when it has none (or asks for
    /// help or the version, which need no valid command line).</summary>
    public static string? UsageError(ParseResult result)
    {
        if (result.Action is not ParseErrorAction) return null;
        var command = result.CommandResult.Command;
        // `mount nosuchfs /mnt`: the filesystem kind is what is wrong, not "a command was not provided".
        if (command.Name == "mount" && command.Subcommands.Count > 0)
        {
            var first = result.UnmatchedTokens.FirstOrDefault();
            var kinds = string.Join(", ", command.Subcommands.Select(c => c.Name));
            return first is not null && !first.StartsWith('-')
                ? $"unknown filesystem '{first}' ({kinds})"
                : $"mount needs a filesystem ({kinds})";
        }
        if (command.Subcommands.Count > 0 && command.Arguments.Count == 0 && !result.UnmatchedTokens.Any(t => t.StartsWith('-')))
        {
            var first = result.UnmatchedTokens.FirstOrDefault();
            var names = string.Join(", ", command.Subcommands.Select(c => c.Name));
            return first is not null ? $"unknown command '{first}' ({names})" : $"{CommandPath(result.CommandResult)} needs a command ({names})";
        }
        var unknownOption = result.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-') && t.Length > 1);
        if (unknownOption is not null) return $"unknown option {unknownOption}";
        if (result.UnmatchedTokens.FirstOrDefault() is { } extra) return $"unexpected argument '{extra}'";
        var missing = command.Arguments.Where(a => result.CommandResult.GetResult(a) is null or { Tokens.Count: 0 }).Select(a => a.Name).ToList();
        if (missing.Count > 0) return $"{CommandPath(result.CommandResult)} needs {string.Join(" and ", missing)}";
        var errorMessage = result.Errors[0].Message;
        return errorMessage.EndsWith('.') ? errorMessage[..^1] : errorMessage;
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Add(c.Command is RootCommand ? "fuseactors" : c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>The arguments of a mount or cluster demo command line (<paramref name="result"/> has no errors).</summary>
    public CliArguments Read(ParseResult result)
    {
        var command = result.CommandResult.Command;
        bool debug = result.GetValue(_debug) || result.GetValue(_debugForeground);
        var config = result.GetValue(_config);
        if (command == _demo)
            return new CliArguments("cluster-demo", null, result.GetValue(_demoDir)!, config, debug) { Store = result.GetValue(_store), Parsed = result };

        var mountpoint = result.GetValue(command == _memfs ? _memfsMountpoint : command == _passthrough ? _passthroughMountpoint : _clusterMountpoint)!;
        var cli = new CliArguments(command.Name, null, mountpoint, config, debug)
        {
            MountOptions = [.. result.GetValue(_mountOptions) ?? []],
            Foreground = result.GetValue(_foreground) || result.GetValue(_debugForeground),
            UnmountDead = result.GetValue(_unmountDead),
            Parsed = result,
        };
        if (command == _passthrough)
        {
            var source = result.GetValue(_passthroughSource)!;
            cli = cli with { Source = source, SourceBytes = source.Contains('\uFFFD') ? RawBytesOf(source) : null };
        }
        else if (command == _cluster)
        {
            cli = cli with
            {
                Port = result.GetValue(_port),
                Host = result.GetValue(_host) ?? "127.0.0.1",
                Seeds = [.. result.GetValue(_seeds) ?? []],
                Store = result.GetValue(_store),
            };
        }
        return cli;
    }

    /// <summary>The bytes of the argument that decoded to <paramref name="value"/>: the one argument that equals it (two
    /// that decode alike but differ in bytes cannot be told apart by the parser, so that SOURCE stays as decoded).</summary>
    private byte[]? RawBytesOf(string value)
    {
        if (_rawArgs is null || _rawArgs.Count != _args.Count) return null;
        byte[]? found = null;
        for (int i = 0; i < _args.Count; i++)
        {
            if (_args[i] != value) continue;
            if (found is not null && !found.AsSpan().SequenceEqual(_rawArgs[i])) return null;
            found = _rawArgs[i];
        }
        return found;
    }

    private static int? ParsePort(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (int.TryParse(text, out int port) && port is >= 0 and <= 65535) return port;
        r.AddError($"--port wants a port number (0 to 65535), not '{text}'");
        return null;
    }
}
