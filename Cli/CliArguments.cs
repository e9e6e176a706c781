namespace FuseActors.Cli;

/// <summary>The parsed command line: <c>fuseactors mount KIND [SOURCE] MOUNTPOINT [--config FILE] [--debug]</c>.</summary>
internal sealed record CliArguments(string Kind, string? Source, string Mountpoint, string? ConfigFile, bool Debug)
{
    public const string Usage =
        "usage: fuseactors mount memfs MOUNTPOINT [--config FILE] [--debug]\n" +
        "       fuseactors mount passthrough SOURCE MOUNTPOINT [--config FILE] [--debug]";

    /// <summary>Null with an error message when the arguments do not make sense.</summary>
    public static CliArguments? Parse(string[] args, out string? error)
    {
        error = null;
        var positional = new List<string>();
        string? config = null;
        bool debug = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--debug": debug = true; break;
                case "--config" when i + 1 < args.Length: config = args[++i]; break;
                case "--config": error = "--config needs a file"; return null;
                case "-h" or "--help": error = ""; return null;
                default:
                    if (args[i].StartsWith("--")) { error = $"unknown option {args[i]}"; return null; }
                    positional.Add(args[i]);
                    break;
            }
        }
        if (positional.Count < 1 || positional[0] != "mount") { error = ""; return null; }
        if (positional.Count == 3 && positional[1] == "memfs")
            return new CliArguments("memfs", null, positional[2], config, debug);
        if (positional.Count == 4 && positional[1] == "passthrough")
            return new CliArguments("passthrough", positional[2], positional[3], config, debug);
        error = positional.Count >= 2 && positional[1] is not ("memfs" or "passthrough")
            ? $"unknown filesystem '{positional[1]}' (memfs or passthrough)"
            : "";
        return null;
    }
}
