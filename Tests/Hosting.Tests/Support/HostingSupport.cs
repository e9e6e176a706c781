using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using FuseActors.Engine.Device;

namespace FuseActors.Hosting.Tests.Support;

/// <summary>Collects the warnings, errors and dead letters published on an actor system's event stream.</summary>
public sealed class EventCollector
{
    public ConcurrentQueue<object> Events { get; } = new();

    public static EventCollector Attach(ActorSystem system)
    {
        var c = new EventCollector();
        var actor = system.ActorOf(Props.Create(() => new Collector(c.Events)));
        system.EventStream.Subscribe(actor, typeof(Warning));
        system.EventStream.Subscribe(actor, typeof(Error));
        system.EventStream.Subscribe(actor, typeof(AllDeadLetters));
        return c;
    }

    public IReadOnlyList<string> Describe() => Events.Select(DescribeOne).ToList();

    private static string DescribeOne(object e) => e switch
    {
        LogEvent l => $"{l.LogLevel()} {l.LogSource}: {l}",
        AllDeadLetters d => $"dead letter {d.Message.GetType().Name} from {d.Sender} to {d.Recipient}",
        _ => e.ToString()!,
    };

    /// <summary><see cref="Describe"/> without dead letters the sender marked as nobody's concern
    /// (<see cref="IDeadLetterSuppression"/>: the connection's last deadline-sweep tick as it stops).</summary>
    public IReadOnlyList<string> DescribeUnexpected() =>
        Events.Where(e => e is not SuppressedDeadLetter).Select(DescribeOne).ToList();

    private sealed class Collector : ReceiveActor
    {
        public Collector(ConcurrentQueue<object> events) => ReceiveAny(events.Enqueue);
    }
}

/// <summary>A fresh empty directory to mount on; disposing lazily unmounts whatever is still there and removes it.</summary>
public sealed class TempMountpoint : IDisposable
{
    public TempMountpoint() => Path = Directory.CreateTempSubdirectory("fuseactors-hosting-").FullName;

    public string Path { get; }

    public static bool IsMounted(string path) =>
        File.ReadAllLines("/proc/mounts").Any(l => l.Split(' ') is [_, var mp, ..] && mp == path);

    public void Dispose()
    {
        if (IsMounted(Path)) FuseMounter.Unmount(Path); // lazy (MNT_DETACH)
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class Shell
{
    /// <summary>Runs a program, returns its exit code and stdout (stderr appended).</summary>
    public static async Task<(int Code, string Out)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (p.ExitCode, await stdout + await stderr);
    }
}
