namespace FuseActors.Actors.Connection;

/// <summary>What ended a connection, worst first when several things did.</summary>
public enum ConnectionEndKind
{
    /// <summary>It was asked to stop (<see cref="StopConnection"/>, the mount's own unmount), or stopped from outside.</summary>
    Stopped,
    /// <summary>The kernel's side went away: the mount was unmounted (every queue read ENODEV).</summary>
    Unmounted,
    /// <summary>The kernel's side was aborted (fusectl's <c>abort</c>): callers got ECONNABORTED / ENOTCONN.</summary>
    Aborted,
    /// <summary>A queue's reader failed, an io_uring queue was lost, or the filesystem actor stopped.</summary>
    Failed,
}

/// <summary>
/// Why a connection ended (<see cref="Mounting.FuseMount.EndedBecause"/>). A daemon that serves until its connection
/// ends exits 0 after <see cref="ConnectionEndKind.Stopped"/> or <see cref="ConnectionEndKind.Unmounted"/> and fails
/// otherwise, as libfuse's session loop returns 0 after an unmount and the error after an abort.
/// </summary>
public sealed record ConnectionEnd(ConnectionEndKind Kind, string Reason)
{
    /// <summary>Ended by an abort or a failure, not by an unmount or a stop.</summary>
    public bool IsFailure => Kind is ConnectionEndKind.Aborted or ConnectionEndKind.Failed;

    /// <summary>The worse of the two (the first when equally bad: it says what happened first).</summary>
    internal static ConnectionEnd Worse(ConnectionEnd? current, ConnectionEnd next) =>
        current is null || next.Kind > current.Kind ? next : current;
}
