namespace FuseActors.Cli;

/// <summary>The parsed command line: <c>fuseactors mount KIND [SOURCE] MOUNTPOINT [-o OPTIONS]... [--config FILE] [--debug]</c>.</summary>
internal sealed record CliArguments(string Kind, string? Source, string Mountpoint, string? ConfigFile, bool Debug)
{
    public const string Usage =
        "usage: fuseactors mount memfs MOUNTPOINT [-o OPTIONS]... [--config FILE] [--debug]\n" +
        "       fuseactors mount passthrough SOURCE MOUNTPOINT [-o OPTIONS]... [--config FILE] [--debug]\n" +
        "       fuseactors mount cluster MOUNTPOINT --port PORT [--host HOST] [--seed HOST:PORT]... [--store sqlite:PATH | --store postgresql:CONNECTION-STRING] [-o OPTIONS]... [--config FILE] [--debug]\n" +
        "       fuseactors cluster demo DIR [--config FILE]\n" +
        "  -o OPTIONS: comma-separated, as mount(8) and tmpfs: size=50%|512m|2g|BYTES and nr_inodes=N[k|m|g] (memfs),\n" +
        "             allow_other, noallow_other, default_permissions, nodefault_permissions, subtype=NAME; they win over --config";

    /// <summary>`mount cluster`: where Akka.Remote listens, whom to join, where the journal lives.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int? Port { get; init; }
    public List<string> Seeds { get; init; } = new();
    public string? Store { get; init; }

    /// <summary>Each <c>-o</c>'s comma-separated list, in order (<see cref="MountOptionList"/> reads them).</summary>
    public List<string> MountOptions { get; init; } = new();

    /// <summary>SOURCE as the exact bytes it was given, when those are not valid UTF-8 (.NET's argv strings then hold
    /// U+FFFD in place of the bad bytes, and the path they spell is another one); null otherwise.</summary>
    public byte[]? SourceBytes { get; init; }

    /// <summary>Null with an error message when the arguments do not make sense. <paramref name="rawArgs"/>: the same
    /// arguments as bytes (<see cref="RawArguments"/>), for a SOURCE that is not valid UTF-8.</summary>
    public static CliArguments? Parse(string[] args, out string? error, IReadOnlyList<byte[]>? rawArgs = null)
    {
        error = null;
        var positional = new List<string>();
        var positionalIndex = new List<int>();
        var mountOptions = new List<string>();
        string? config = null;
        bool debug = false;
        string host = "127.0.0.1";
        int? port = null;
        string? store = null;
        var seeds = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--debug": debug = true; break;
                case "--config" when i + 1 < args.Length: config = args[++i]; break;
                case "--config": error = "--config needs a file"; return null;
                case "--host" when i + 1 < args.Length: host = args[++i]; break;
                case "--store" when i + 1 < args.Length: store = args[++i]; break;
                case "--seed" when i + 1 < args.Length:
                    var seed = args[++i];
                    int colon = seed.LastIndexOf(':');
                    if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], out int sp) || sp is <= 0 or > 65535)
                    {
                        error = $"--seed wants HOST:PORT, not '{seed}'";
                        return null;
                    }
                    seeds.Add(seed);
                    break;
                case "--port" when i + 1 < args.Length:
                    if (!int.TryParse(args[++i], out int p) || p is < 0 or > 65535) { error = $"--port wants a port number, not '{args[i]}'"; return null; }
                    port = p;
                    break;
                case "--host" or "--store" or "--seed" or "--port": error = $"{args[i]} needs a value"; return null;
                case "-o" when i + 1 < args.Length: mountOptions.Add(args[++i]); break;
                case "-o": error = "-o needs options (-o size=2g,nr_inodes=1m)"; return null;
                case var o when o.StartsWith("-o") && o.Length > 2: mountOptions.Add(o[2..]); break;
                case "-h" or "--help": error = ""; return null;
                default:
                    if (args[i].StartsWith("--")) { error = $"unknown option {args[i]}"; return null; }
                    positional.Add(args[i]);
                    positionalIndex.Add(i);
                    break;
            }
        }
        if (positional.Count == 3 && positional[0] == "cluster" && positional[1] == "demo")
        {
            if (mountOptions.Count > 0) { error = "-o is for `fuseactors mount`"; return null; }
            return new CliArguments("cluster-demo", null, positional[2], config, debug) { Store = store };
        }
        bool clusterOptions = port is not null || seeds.Count > 0 || store is not null || host != "127.0.0.1";
        if (positional.Count == 3 && positional[0] == "mount" && positional[1] == "cluster")
        {
            if (port is null) { error = "mount cluster needs --port PORT (where this node listens for the others)"; return null; }
            return new CliArguments("cluster", null, positional[2], config, debug) { Host = host, Port = port, Seeds = seeds, Store = store, MountOptions = mountOptions };
        }
        if (clusterOptions) { error = "--port, --host, --seed and --store are for `mount cluster`"; return null; }
        if (positional.Count < 1 || positional[0] != "mount") { error = ""; return null; }
        if (positional.Count == 3 && positional[1] == "memfs")
            return new CliArguments("memfs", null, positional[2], config, debug) { MountOptions = mountOptions };
        if (positional.Count == 4 && positional[1] == "passthrough")
            return new CliArguments("passthrough", positional[2], positional[3], config, debug)
            {
                MountOptions = mountOptions,
                SourceBytes = positional[2].Contains('\uFFFD') && rawArgs is not null ? rawArgs[positionalIndex[2]] : null,
            };
        error = positional.Count >= 2 && positional[1] is not ("memfs" or "passthrough" or "cluster")
            ? $"unknown filesystem '{positional[1]}' (memfs, passthrough or cluster)"
            : "";
        return null;
    }
}
