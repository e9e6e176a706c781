namespace FuseActors.Cli;

/// <summary>The parsed command line: <c>fuseactors mount KIND [SOURCE] MOUNTPOINT [--config FILE] [--debug]</c>.</summary>
internal sealed record CliArguments(string Kind, string? Source, string Mountpoint, string? ConfigFile, bool Debug)
{
    public const string Usage =
        "usage: fuseactors mount memfs MOUNTPOINT [--config FILE] [--debug]\n" +
        "       fuseactors mount passthrough SOURCE MOUNTPOINT [--config FILE] [--debug]\n" +
        "       fuseactors mount cluster MOUNTPOINT --port PORT [--host HOST] [--seed HOST:PORT]... [--store sqlite:PATH | --store postgresql:CONNECTION-STRING] [--config FILE] [--debug]\n" +
        "       fuseactors cluster demo DIR [--config FILE]";

    /// <summary>`mount cluster`: where Akka.Remote listens, whom to join, where the journal lives.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int? Port { get; init; }
    public List<string> Seeds { get; init; } = new();
    public string? Store { get; init; }

    /// <summary>Null with an error message when the arguments do not make sense.</summary>
    public static CliArguments? Parse(string[] args, out string? error)
    {
        error = null;
        var positional = new List<string>();
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
                case "-h" or "--help": error = ""; return null;
                default:
                    if (args[i].StartsWith("--")) { error = $"unknown option {args[i]}"; return null; }
                    positional.Add(args[i]);
                    break;
            }
        }
        if (positional.Count == 3 && positional[0] == "cluster" && positional[1] == "demo")
            return new CliArguments("cluster-demo", null, positional[2], config, debug) { Store = store };
        bool clusterOptions = port is not null || seeds.Count > 0 || store is not null || host != "127.0.0.1";
        if (positional.Count == 3 && positional[0] == "mount" && positional[1] == "cluster")
        {
            if (port is null) { error = "mount cluster needs --port PORT (where this node listens for the others)"; return null; }
            return new CliArguments("cluster", null, positional[2], config, debug) { Host = host, Port = port, Seeds = seeds, Store = store };
        }
        if (clusterOptions) { error = "--port, --host, --seed and --store are for `mount cluster`"; return null; }
        if (positional.Count < 1 || positional[0] != "mount") { error = ""; return null; }
        if (positional.Count == 3 && positional[1] == "memfs")
            return new CliArguments("memfs", null, positional[2], config, debug);
        if (positional.Count == 4 && positional[1] == "passthrough")
            return new CliArguments("passthrough", positional[2], positional[3], config, debug);
        error = positional.Count >= 2 && positional[1] is not ("memfs" or "passthrough" or "cluster")
            ? $"unknown filesystem '{positional[1]}' (memfs, passthrough or cluster)"
            : "";
        return null;
    }
}
