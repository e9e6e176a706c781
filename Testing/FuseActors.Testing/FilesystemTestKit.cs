using Akka.Actor;
using Akka.Configuration;
using FuseActors.Engine.Virtual;
using Xunit.Abstractions;

namespace FuseActors.Testing;

/// <summary>
/// xunit base class for testing a filesystem actor with no root and no mount: <see cref="ServeAsync(Props, FilesystemTestOptions?)"/>
/// starts the filesystem under the real engine on a <see cref="VirtualDevice"/> and returns a
/// <see cref="ServedFilesystem"/> to call it, inspect the kernel side and inject faults. Everything served is stopped
/// when the test ends. It is an Akka <see cref="Akka.TestKit.Xunit2.TestKit"/>, so probes, <c>AwaitAssert</c>,
/// <c>EventFilter</c> and the rest are at hand.
/// </summary>
public abstract class FilesystemTestKit : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>Quiet logs: the engine logs faults the tests inject on purpose at error level.</summary>
    public static readonly Config QuietConfig = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        akka.log-dead-letters = 0
        akka.log-dead-letters-during-shutdown = off
        """);

    // How long a stop may take before the test's end gives up on it instead of hanging.
    private static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(30);
    private readonly List<ServedFilesystem> _served = [];

    protected FilesystemTestKit(ITestOutputHelper? output = null) : this((Config?)null, output) { }

    /// <param name="config">HOCON in front of <see cref="QuietConfig"/>, e.g. <c>fuseactors.virtual-device.max-outstanding = 2</c>.</param>
    protected FilesystemTestKit(string config, ITestOutputHelper? output = null) : this(ConfigurationFactory.ParseString(config), output) { }

    protected FilesystemTestKit(Config? config, ITestOutputHelper? output = null)
        : base(config is null ? QuietConfig : config.WithFallback(QuietConfig), "fs-test", output) { }

    /// <summary>Starts <paramref name="filesystem"/> as the child of a new engine connection on a new VirtualDevice,
    /// and returns once INIT has been answered.</summary>
    protected Task<ServedFilesystem> ServeAsync(Props filesystem, FilesystemTestOptions? options = null) =>
        Track(ServedFilesystem.StartAsync(Sys, filesystem, options));

    /// <summary>Serves an existing filesystem actor (it is not stopped with the connection).</summary>
    protected Task<ServedFilesystem> ServeAsync(IActorRef filesystem, FilesystemTestOptions? options = null) =>
        Track(ServedFilesystem.StartAsync(Sys, filesystem, options));

    private async Task<ServedFilesystem> Track(Task<ServedFilesystem> starting)
    {
        var served = await starting.ConfigureAwait(false);
        lock (_served) _served.Add(served);
        return served;
    }

    /// <summary>Stops everything served before the actor system goes down.</summary>
    protected override void AfterAll()
    {
        ServedFilesystem[] all;
        lock (_served)
        {
            all = _served.ToArray();
            _served.Clear();
        }
        foreach (var s in all)
        {
            try
            {
                s.StopAsync().WaitAsync(StopLimit).GetAwaiter().GetResult();
            }
            catch (TimeoutException)
            {
                // The connection did not stop: the actor system's shutdown stops it.
            }
        }
        base.AfterAll();
    }
}
