using Akka.Configuration;
using FuseActors.Actors;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;
using FuseActors.Engine.Virtual;

namespace FuseActors.Actors.Tests;

/// <summary>The library's defaults ship inside FuseActors.Actors (reference.conf); the repository's akka.hocon repeats
/// those sections for the CLI. They must not drift, and an application that configures nothing gets them.</summary>
public class EmbeddedDefaultsTests
{
    private static readonly string[] Sections = ["fuseactors.mount", "fuseactors.connection", "fuseactors.virtual-device"];

    [Fact]
    public void Root_akka_hocon_and_the_embedded_defaults_hold_the_same_values()
    {
        var root = ConfigurationFactory.ParseString(File.ReadAllText(FindRootHocon()));
        foreach (var section in Sections)
        {
            var embedded = Flatten(FuseActorsConfig.Default.GetConfig(section));
            var repo = Flatten(root.GetConfig(section));
            Assert.NotEmpty(embedded);
            Assert.Equal(embedded, repo);
        }
    }

    [Fact]
    public void Root_akka_hocon_and_the_embedded_defaults_have_the_same_comments()
    {
        // Same text line for line: the section bodies of akka.hocon are the embedded file's.
        var root = File.ReadAllText(FindRootHocon());
        var embedded = FuseActorsConfig.DefaultText;
        foreach (var name in new[] { "mount", "connection", "virtual-device" })
            Assert.Equal(SectionText(embedded, name), SectionText(root, name));
    }

    [Fact]
    public void Nothing_configured_gives_every_default()
    {
        Assert.Equal(new ConnectionSettings(), ConnectionSettings.FromConfig(Config.Empty));
        Assert.Equal(new VirtualDeviceOptions(), VirtualDeviceConfig.FromConfig(Config.Empty));
        var mount = MountOptionsConfig.FromConfig(Config.Empty, "x");
        Assert.Equal("fuseactors", mount.Subtype);
        Assert.True(mount.AllowOther);
        Assert.True(mount.DefaultPermissions);
        Assert.Equal(BusyUnmount.Detach, mount.BusyUnmount);
        Assert.Equal(TimeSpan.FromSeconds(5), MountOptionsConfig.UnmountGrace(Config.Empty));
        // And they come from the embedded file, not only from the code's own fallbacks: an empty application config
        // read through the library holds every key.
        var read = FuseActorsConfig.WithDefaults(Config.Empty);
        foreach (var key in new[] { "fuseactors.connection.max-in-flight", "fuseactors.connection.control-socket",
                     "fuseactors.mount.unmount-grace", "fuseactors.mount.mount-helper", "fuseactors.virtual-device.max-outstanding" })
            Assert.True(read.HasPath(key), key);
        Assert.Equal(read.GetInt("fuseactors.connection.max-in-flight"), ConnectionSettings.FromConfig(Config.Empty).MaxInFlight);
    }

    [Fact]
    public void The_queue_count_is_auto_unless_configured_and_a_bad_one_is_refused()
    {
        // 0 = auto: one per CPU, up to 8, decided at mount time (a queue that cannot be opened is then left out).
        Assert.Equal(0, ConnectionSettings.FromConfig(Config.Empty).Queues);
        Assert.Equal(0, ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.queues = auto")).Queues);
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, 8), ConnectionSettings.DefaultQueues);
        Assert.Equal(3, ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.queues = 3")).Queues);
        foreach (var bad in new[] { "0", "65", "many" })
        {
            var e = Assert.Throws<FormatException>(() => ConnectionSettings.FromConfig(ConfigurationFactory.ParseString($"fuseactors.connection.queues = {bad}")));
            Assert.Contains("is not auto or a count from 1 to 64", e.Message);
        }
    }

    [Fact]
    public void The_transport_is_device_unless_configured_and_a_wrong_name_is_refused()
    {
        Assert.Equal(FuseTransport.Device, ConnectionSettings.FromConfig(Config.Empty).Transport);
        Assert.Equal(FuseTransport.IoUring, ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.transport = io-uring")).Transport);
        Assert.Equal(FuseTransport.Auto, ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.transport = auto")).Transport);
        var e = Assert.Throws<ArgumentException>(() => ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.transport = ring")));
        Assert.Contains("device, io-uring or auto", e.Message);
        // INIT asks for io_uring only when the mount set up its queues, whatever the configuration says.
        Assert.False(ConnectionSettings.FromConfig(ConfigurationFactory.ParseString("fuseactors.connection.transport = io-uring"))
            .ToInitPolicy(Actors.Filesystem.FilesystemCapabilities.None).OverIoUring);
    }

    [Fact]
    public void The_application_config_wins_over_the_defaults()
    {
        var app = ConfigurationFactory.ParseString("fuseactors.connection.max-in-flight = 7\nfuseactors.mount.unmount-grace = 2s");
        var settings = ConnectionSettings.FromConfig(app);
        Assert.Equal(7, settings.MaxInFlight);
        Assert.Equal(new ConnectionSettings().MaxWrite, settings.MaxWrite);
        Assert.Equal(TimeSpan.FromSeconds(2), MountOptionsConfig.UnmountGrace(app));
    }

    private static SortedDictionary<string, string> Flatten(Config c)
    {
        var d = new SortedDictionary<string, string>();
        foreach (var (key, value) in c.AsEnumerable()) d[key] = value.ToString();
        return d;
    }

    /// <summary>The lines of "  name {" ... "  }" (two-space indented section inside fuseactors).</summary>
    private static string SectionText(string hocon, string name)
    {
        var lines = hocon.Replace("\r\n", "\n").Split('\n');
        int start = Array.IndexOf(lines, $"  {name} {{");
        Assert.True(start >= 0, $"section {name} not found");
        int end = Array.IndexOf(lines, "  }", start);
        return string.Join('\n', lines[start..(end + 1)]);
    }

    private static string FindRootHocon()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "akka.hocon");
            if (File.Exists(p) && File.Exists(Path.Combine(dir.FullName, "FuseActors.sln"))) return p;
        }
        throw new FileNotFoundException("the repository's akka.hocon was not found above " + AppContext.BaseDirectory);
    }
}
