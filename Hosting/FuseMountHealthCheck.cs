using Akka.Actor;
using FuseActors.Actors.Connection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FuseActors.Hosting;

/// <summary>
/// Reports a mount's state (<see cref="FuseMountRegistry"/>): Healthy when it is mounted and its connection actor
/// answers; the registration's failure status (Unhealthy by default) when it is not mounted yet, failed, is being
/// unmounted or has ended. Data: name, mountpoint, state, and the connection's in-flight/answered counts or the error.
/// </summary>
public sealed class FuseMountHealthCheck : IHealthCheck
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);
    private readonly Func<ActorSystem> _system;
    private readonly string _name;

    public FuseMountHealthCheck(ActorSystem system, string name) : this(() => system, name) { }

    internal FuseMountHealthCheck(Func<ActorSystem> system, string name)
    {
        _system = system;
        _name = name;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context?.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        var data = new Dictionary<string, object> { ["name"] = _name };
        if (!FuseMountRegistry.For(_system()).TryGet(_name, out var entry))
        {
            data["state"] = FuseMountState.Starting.ToString();
            return new HealthCheckResult(failure, $"FUSE mount {_name} is not started", data: data);
        }
        var where = entry.Mountpoint ?? "(in process)";
        data["mountpoint"] = where;
        var state = entry.State;
        data["state"] = state.ToString();
        switch (state)
        {
            case FuseMountState.Mounted:
                try
                {
                    var stats = await entry.Mount!.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance, AskTimeout, cancellationToken)
                        .ConfigureAwait(false);
                    data["in-flight"] = stats.InFlight;
                    data["answered"] = stats.Answered;
                    return HealthCheckResult.Healthy($"FUSE mount {_name} serving at {where}", data);
                }
                catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
                {
                    if (entry.State != FuseMountState.Mounted) goto default;
                    return new HealthCheckResult(failure, $"FUSE mount {_name} at {where}: the connection does not answer", e, data);
                }
            case FuseMountState.Failed:
                data["error"] = entry.Error!.Message;
                return new HealthCheckResult(failure, $"FUSE mount {_name} at {where} failed: {entry.Error.Message}", entry.Error, data);
            default:
                data["state"] = entry.State.ToString();
                return new HealthCheckResult(failure, $"FUSE mount {_name} at {where} is {entry.State.ToString().ToLowerInvariant()}", data: data);
        }
    }
}

public static class FuseMountHealthCheckExtensions
{
    /// <summary>Adds a <see cref="FuseMountHealthCheck"/> for the mount registered as <paramref name="mountName"/> (the
    /// mountpoint unless <see cref="FuseMountSetup.Name"/> was set) of the Akka.Hosting actor system.</summary>
    /// <param name="name">The health check's name; default <c>fuse-mount:MOUNTNAME</c>.</param>
    public static IHealthChecksBuilder AddFuseMountHealthCheck(this IHealthChecksBuilder builder, string mountName, string? name = null,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(mountName);
        return builder.Add(new HealthCheckRegistration(name ?? $"fuse-mount:{mountName}",
            sp => new FuseMountHealthCheck(() => sp.GetRequiredService<ActorSystem>(), mountName), failureStatus, tags, timeout));
    }
}
