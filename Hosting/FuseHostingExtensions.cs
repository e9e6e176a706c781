using System.Runtime.CompilerServices;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Hosting;
using FuseActors.Actors;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;

namespace FuseActors.Hosting;

/// <summary>
/// Akka.Hosting support: <c>services.AddAkka("app", b => b.WithFuseMount("/mnt/x", Props.Create&lt;MyFs&gt;()))</c> mounts
/// when the actor system starts and unmounts in CoordinatedShutdown; <see cref="WithFuseFilesystem"/> serves in process
/// (no mount, no root). Find them with <see cref="FuseMountRegistry"/>; check them with <see cref="FuseMountHealthCheck"/>.
/// </summary>
public static class FuseHostingExtensions
{
    /// <summary>
    /// The CoordinatedShutdown phase the unmount runs in. Unmounting is how a filesystem stops taking requests, the
    /// meaning of <c>service-unbind</c> ("stop accepting new incoming requests"), and it must run while actors are still
    /// alive: the connection answers the kernel's last requests (RELEASE, FORGET) and the filesystem actor (a cluster
    /// node's, say) may need the cluster to finish in-flight writes; both are gone after <c>actor-system-terminate</c>,
    /// and a mount whose daemon is gone is left dead (ENOTCONN). <c>before-service-unbind</c> stays free for the
    /// application's own preparation (e.g. telling its users to close files) before the mount goes.
    /// </summary>
    public const string UnmountPhase = CoordinatedShutdown.PhaseServiceUnbind;

    /// <summary>What the unmount phase's timeout adds to the unmount grace: after the grace the connection is aborted
    /// (fusectl) and ends within milliseconds, so the phase ends before its timeout and logs no warning.</summary>
    public static readonly TimeSpan ShutdownMargin = TimeSpan.FromSeconds(2);

    private const string PhaseTimeoutPath = "akka.coordinated-shutdown.phases." + UnmountPhase + ".timeout";
    private static readonly ConditionalWeakTable<AkkaConfigurationBuilder, BuilderState> States = new();

    private sealed class BuilderState
    {
        public bool DefaultsAdded;
        public TimeSpan? PhaseTimeoutSet;
    }

    /// <summary>
    /// Mounts <paramref name="filesystem"/> (the props of a filesystem actor) at <paramref name="mountpoint"/> when the
    /// actor system starts (a startup task that waits until the kernel's INIT is answered) and unmounts it in
    /// <see cref="UnmountPhase"/> of CoordinatedShutdown, whose timeout is set (as a HOCON fallback, so the application's
    /// own setting wins) to the unmount grace plus <see cref="ShutdownMargin"/>. Needs root (CAP_SYS_ADMIN) and /dev/fuse.
    /// </summary>
    public static AkkaConfigurationBuilder WithFuseMount(this AkkaConfigurationBuilder builder, string mountpoint, Props filesystem,
        Action<FuseMountSetup>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(mountpoint);
        ArgumentNullException.ThrowIfNull(filesystem);
        var setup = new FuseMountSetup();
        configure?.Invoke(setup);
        var full = Path.GetFullPath(mountpoint);
        var name = setup.Name ?? full;
        AddDefaults(builder, setup.UnmountGrace ?? MountOptionsConfig.UnmountGrace(Combined(setup.Config, Current(builder))));

        builder.AddStartup(async (system, _) =>
        {
            var entry = FuseMountRegistry.For(system).Configure(name, full);
            var config = Combined(setup.Config, system.Settings.Config);
            var grace = setup.UnmountGrace ?? MountOptionsConfig.UnmountGrace(config);
            var options = setup.MountOptions ?? MountOptionsConfig.FromConfig(config, setup.Source ?? "fuseactors");
            if (setup.BusyUnmount is { } busy) options = options with { BusyUnmount = busy };
            var settings = setup.ConnectionSettings ?? ConnectionSettings.FromConfig(config);
            CheckPhaseTimeout(system, name, grace);
            // Registered before mounting, so a shutdown that begins while INIT is under way still unmounts.
            AddUnmountTask(system, entry, grace);
            try
            {
                var mount = await FuseMount.MountAsync(system, filesystem, full, options, settings, setup.ActorName).ConfigureAwait(false);
                entry.SetMounted(mount);
                if (entry.Unmounting)
                {
                    // Shutdown began while the mount was being made and its unmount task gave up waiting: the mount
                    // that arrived late is taken away here, so none outlives the process.
                    await mount.UnmountAsync(grace).ConfigureAwait(false);
                    return;
                }
                WarnWhenEndedOutsideShutdown(system, entry, mount);
                system.Log.Info("FUSE mount {Name} mounted at {Mountpoint}", name, full);
            }
            catch (Exception e)
            {
                entry.SetFailed(e);
                system.Log.Error(e, "FUSE mount {Name} at {Mountpoint} failed: {Reason}", name, full, e.Message);
                if (setup.FailStartOnError) throw;
            }
        });
        return builder;
    }

    /// <summary>
    /// Serves <paramref name="filesystem"/> in process on a VirtualDevice (no mount, no root) when the actor system
    /// starts; the application uses it through <c>(await FuseMountRegistry.For(system).GetFilesystemAsync(name)).Client</c>
    /// (or <c>.Files</c> for paths). It is stopped in <see cref="UnmountPhase"/> like a mount.
    /// </summary>
    public static AkkaConfigurationBuilder WithFuseFilesystem(this AkkaConfigurationBuilder builder, string name, Props filesystem,
        Action<FuseFilesystemSetup>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(filesystem);
        var setup = new FuseFilesystemSetup();
        configure?.Invoke(setup);
        AddDefaults(builder, MountOptionsConfig.UnmountGrace(Current(builder)));

        builder.AddStartup(async (system, _) =>
        {
            var entry = FuseMountRegistry.For(system).Configure(name, null);
            var grace = MountOptionsConfig.UnmountGrace(system.Settings.Config);
            CheckPhaseTimeout(system, name, grace);
            AddUnmountTask(system, entry, grace);
            try
            {
                var fs = await InProcessFilesystem.StartAsync(system, filesystem, setup.Options).ConfigureAwait(false);
                entry.SetMounted(fs.Mount, fs);
                WarnWhenEndedOutsideShutdown(system, entry, fs.Mount);
                system.Log.Info("FUSE filesystem {Name} serving in process", name);
            }
            catch (Exception e)
            {
                entry.SetFailed(e);
                system.Log.Error(e, "FUSE filesystem {Name} failed to start: {Reason}", name, e.Message);
                if (setup.FailStartOnError) throw;
            }
        });
        return builder;
    }

    private static void AddUnmountTask(ActorSystem system, FuseMountEntry entry, TimeSpan grace)
    {
        CoordinatedShutdown.Get(system).AddTask(UnmountPhase, "fuseactors-unmount", async () =>
        {
            FuseMount mount;
            try
            {
                // A mount still starting gets until its grace to finish, then is unmounted like any other.
                mount = await entry.Mounted.WaitAsync(grace).ConfigureAwait(false);
            }
            catch
            {
                // It failed, or has not come within the grace: nothing to unmount now. A mount still on its way sees
                // the flag when it arrives and unmounts itself (the startup task above).
                entry.SetUnmounting();
                // Both sides check after setting their own flag, so one of them always sees the other (UnmountAsync
                // may run twice: the second call waits for the first).
                if (entry.Mounted.IsCompletedSuccessfully) await entry.Mounted.Result.UnmountAsync(grace).ConfigureAwait(false);
                return Done.Instance;
            }
            entry.SetUnmounting();
            if (mount.Completion.IsCompleted)
            {
                // Unmounted from outside: nothing for the kernel, but the devices and a fusermount3 helper are still
                // ours to let go (UnmountAsync skips what is gone).
                await mount.UnmountAsync(grace).ConfigureAwait(false);
                return Done.Instance;
            }
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await mount.UnmountAsync(grace).ConfigureAwait(false);
            system.Log.Info("FUSE mount {Name} stopped at {Mountpoint} in {Milliseconds} ms", entry.Name,
                entry.Mountpoint ?? "(in process)", (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return Done.Instance;
        });
    }

    private static void WarnWhenEndedOutsideShutdown(ActorSystem system, FuseMountEntry entry, FuseMount mount) =>
        mount.Completion.ContinueWith(_ =>
        {
            if (!entry.Unmounting && !system.WhenTerminated.IsCompleted)
                system.Log.Warning("FUSE mount {Name} at {Mountpoint} ended while the actor system runs: {Reason}",
                    entry.Name, entry.Mountpoint ?? "(in process)", mount.EndedBecause?.Reason ?? "the connection stopped");
        }, TaskScheduler.Default);

    /// <summary>The embedded defaults behind the application's config (once per builder), and the unmount phase's
    /// timeout = the longest grace + margin, unless the application set that timeout itself.</summary>
    private static void AddDefaults(AkkaConfigurationBuilder builder, TimeSpan grace)
    {
        var state = States.GetOrCreateValue(builder);
        if (!state.DefaultsAdded)
        {
            builder.AddHocon(FuseActorsConfig.Default, HoconAddMode.Append);
            state.DefaultsAdded = true;
        }
        var wanted = grace + ShutdownMargin;
        var current = Current(builder);
        var timeout = ConfigurationFactory.ParseString($"{PhaseTimeoutPath} = {(long)wanted.TotalMilliseconds}ms");
        if (!current.HasPath(PhaseTimeoutPath))
        {
            builder.AddHocon(timeout, HoconAddMode.Append);
            state.PhaseTimeoutSet = wanted;
        }
        else if (state.PhaseTimeoutSet is { } ours && wanted > ours && current.GetTimeSpan(PhaseTimeoutPath) == ours)
        {
            // Ours, from a mount with a shorter grace: the longest grace decides (the unmounts run in parallel).
            builder.AddHocon(timeout, HoconAddMode.Prepend);
            state.PhaseTimeoutSet = wanted;
        }
    }

    private static void CheckPhaseTimeout(ActorSystem system, string name, TimeSpan grace)
    {
        var config = system.Settings.Config;
        var timeout = config.HasPath(PhaseTimeoutPath)
            ? config.GetTimeSpan(PhaseTimeoutPath)
            : config.GetTimeSpan("akka.coordinated-shutdown.default-phase-timeout", TimeSpan.FromSeconds(5));
        if (timeout < grace + ShutdownMargin)
            system.Log.Warning("CoordinatedShutdown phase {Phase} times out after {PhaseTimeout}, shorter than FUSE mount {Name}'s unmount grace {Grace} plus {Margin}: a busy mount may outlive the phase",
                UnmountPhase, timeout, name, grace, ShutdownMargin);
    }

    private static Config Current(AkkaConfigurationBuilder builder) => builder.Configuration.GetOrElse(Config.Empty);

    private static Config Combined(Config? front, Config back) => front is null || front.IsEmpty ? back : front.WithFallback(back);
}
