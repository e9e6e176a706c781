using System.Runtime.InteropServices;

namespace FuseActors.Cli;

/// <summary>SIGINT, SIGTERM and SIGHUP all ask for a clean stop (unmount, then exit 0): a hangup of the terminal the
/// command runs in must not kill it and leave a dead mount behind.</summary>
internal static class StopSignals
{
    public static IDisposable Register(TaskCompletionSource stop)
    {
        var registrations = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(signal => PosixSignalRegistration.Create(signal, c => { c.Cancel = true; stop.TrySetResult(); }))
            .ToArray();
        return new Registrations(registrations);
    }

    private sealed class Registrations(PosixSignalRegistration[] all) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in all) r.Dispose();
        }
    }
}
