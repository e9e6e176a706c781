using System.Reflection;
using Akka.Actor;
using Akka.Configuration;

namespace FuseActors.Actors;

/// <summary>
/// The library's defaults for <c>fuseactors.mount</c>, <c>fuseactors.connection</c> and <c>fuseactors.virtual-device</c>,
/// shipped inside the assembly (the embedded <c>reference.conf</c>) the way Akka modules ship theirs. The library's
/// readers (<see cref="Connection.ConnectionSettings.FromConfig"/>, <see cref="Mounting.MountOptionsConfig"/>,
/// <see cref="Mounting.VirtualDeviceConfig"/>) fall back to it, so an application that configures nothing gets every default.
/// </summary>
public static class FuseActorsConfig
{
    private const string ResourceName = "FuseActors.Actors.reference.conf";
    private static readonly Lazy<Config> Lazy = new(Load);

    /// <summary>The embedded defaults as an Akka <see cref="Config"/>.</summary>
    public static Config Default => Lazy.Value;

    /// <summary>The embedded defaults as HOCON text (with their comments).</summary>
    public static string DefaultText
    {
        get
        {
            using var stream = typeof(FuseActorsConfig).Assembly.GetManifestResourceStream(ResourceName)
                ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from {typeof(FuseActorsConfig).Assembly.GetName().Name}");
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
    }

    /// <summary><paramref name="config"/> with the embedded defaults behind it (its own values win).</summary>
    public static Config WithDefaults(Config? config) =>
        config is null || config.IsEmpty ? Default : config.WithFallback(Default);

    /// <summary>Puts the defaults behind an actor system's own config (its values still win), as Akka modules do with
    /// their reference.conf, so <c>system.Settings.Config</c> shows them.</summary>
    public static void InjectInto(ActorSystem system) => system.Settings.InjectTopLevelFallback(Default);

    private static Config Load() => ConfigurationFactory.ParseString(DefaultText);
}
