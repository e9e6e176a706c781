using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// <see cref="FsRequest.OthersWaiting"/> on a real /dev/fuse mount: while a handler holds the only reader, a request of
/// another process waits in the kernel, and the handler sees it there (one poll of the device); a handler with nothing
/// behind it does not.
/// </summary>
public sealed class OthersWaitingTests
{
    /// <summary>What the probing LOOKUP saw: OthersWaiting when it arrived, and whether it turned true while it waited.</summary>
    public sealed class Observations
    {
        public readonly TaskCompletionSource<bool> AtArrival = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<bool> WhileHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>LOOKUP of "probe" blocks its thread (the reader's: inline dispatch) for up to 20 s until another request
    /// waits, then answers ENOENT; every other name is ENOENT at once.</summary>
    private sealed class ProbingFs(Observations seen) : FilesystemActor
    {
        protected override void Lookup(LookupRequest r)
        {
            if (r.Name == "probe")
            {
                seen.AtArrival.TrySetResult(r.OthersWaiting);
                var deadline = DateTime.UtcNow.AddSeconds(20);
                bool waiting = false;
                while (!waiting && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(5);
                    waiting = r.OthersWaiting;
                }
                seen.WhileHeld.TrySetResult(waiting);
            }
            r.ReplyNegative(TimeSpan.Zero);
        }

        protected override void GetAttr(GetAttrRequest r) =>
            r.Reply(new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 }, TimeSpan.Zero);
    }

    [Fact]
    public async Task A_handler_holding_the_reader_sees_another_process_request_waiting_and_not_before()
    {
        var seen = new Observations();
        await using var fs = await MountedFilesystem.StartAsync(Props.Create(() => new ProbingFs(seen)));
        var probe = Shell.RunAsync($"stat {fs["probe"]}", timeout: TimeSpan.FromSeconds(60));
        Assert.False(await seen.AtArrival.Task.WaitAsync(TimeSpan.FromSeconds(30)), "OthersWaiting was true with nothing else asked");
        // The reader is held in the probe's handler: this stat's LOOKUP can only wait in the kernel.
        var other = Shell.RunAsync($"stat {fs["other"]}", timeout: TimeSpan.FromSeconds(60));
        Assert.True(await seen.WhileHeld.Task.WaitAsync(TimeSpan.FromSeconds(30)), "the other process's request was never seen waiting");
        Assert.Contains("No such file", (await other).Stderr);
        Assert.Contains("No such file", (await probe).Stderr);
    }
}
