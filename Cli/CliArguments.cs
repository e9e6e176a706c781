using System.CommandLine;

namespace FuseActors.Cli;

/// <summary>What a <c>mount</c> or <c>cluster demo</c> command line asked for, read from System.CommandLine's parse
/// result (<see cref="FuseActorsCommandLine"/>). <see cref="Kind"/>: memfs, passthrough, cluster or cluster-demo.</summary>
internal sealed record CliArguments(string Kind, string? Source, string Mountpoint, string? ConfigFile, bool Debug)
{
    /// <summary>`mount cluster`: where Akka.Remote listens, whom to join, where the journal lives.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int? Port { get; init; }
    public List<string> Seeds { get; init; } = new();
    public string? Store { get; init; }

    /// <summary>Each <c>-o</c>'s comma-separated list, in order (<see cref="MountOptionList"/> reads them).</summary>
    public List<string> MountOptions { get; init; } = new();

    /// <summary><c>-f</c>: stay in the foreground. The command always does; accepted as libfuse's programs take it.</summary>
    public bool Foreground { get; init; }

    /// <summary><c>--unmount-dead</c>: a dead FUSE mount at the mountpoint is lazily unmounted, then the mount goes on.</summary>
    public bool UnmountDead { get; init; }

    /// <summary>The whole parse result, for options that commands add later (<see cref="FuseActorsCommandLine.AddMountOption"/>).</summary>
    public ParseResult? Parsed { get; init; }

    /// <summary>SOURCE as the exact bytes it was given, when those are not valid UTF-8 (.NET's argv strings then hold
    /// U+FFFD in place of the bad bytes, and the path they spell is another one); null otherwise.</summary>
    public byte[]? SourceBytes { get; init; }

    /// <summary>Parses <paramref name="args"/> as the command does, without running anything: null with the one-line
    /// error for bad usage, null with an empty error for a command line that mounts nothing (--help, --version).</summary>
    public static CliArguments? Parse(string[] args, out string? error, IReadOnlyList<byte[]>? rawArgs = null)
    {
        var commandLine = new FuseActorsCommandLine((_, _) => Task.FromResult(0));
        var result = commandLine.Parse(args, rawArgs);
        error = FuseActorsCommandLine.UsageError(result);
        if (error is not null) return null;
        if (result.Action is not System.CommandLine.Invocation.AsynchronousCommandLineAction)
        {
            error = "";
            return null;
        }
        return commandLine.Read(result);
    }
}
