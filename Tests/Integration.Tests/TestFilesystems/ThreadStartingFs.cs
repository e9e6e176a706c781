using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// Forwards every request to the real filesystem (its child). For the first request it handles on an io_uring queue's
/// thread (where the inline dispatcher runs it), it starts a thread there, as a filesystem that starts its workers
/// lazily does, and reports the scheduling policy of both threads.
/// </summary>
public sealed class ThreadStartingFs : WrappingFs
{
    private readonly TaskCompletionSource<(int Handler, int Started)> _policies;
    private bool _done;

    public ThreadStartingFs(Props inner, TaskCompletionSource<(int Handler, int Started)> policies) : base(inner, "wrapped") => _policies = policies;

    public static Props Props(Props inner, TaskCompletionSource<(int Handler, int Started)> policies) =>
        Akka.Actor.Props.Create<ThreadStartingFs>(inner, policies);

    protected override bool Intercept(object message)
    {
        if (message is FsRequest && !_done && IoUringFuseQueue.OnAnyQueueThread)
        {
            _done = true;
            int handler = ThreadStats.PolicyOfThisThread(), started = -1;
            var thread = new Thread(() => started = ThreadStats.PolicyOfThisThread());
            thread.Start();
            thread.Join();
            _policies.TrySetResult((handler, started));
        }
        return false;
    }

}
