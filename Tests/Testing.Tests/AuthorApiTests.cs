using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Tests.Shared.TestFilesystems;
using Microsoft.Extensions.Time.Testing;

namespace FuseActors.Testing.Tests;

/// <summary>
/// What a filesystem author meets, on the key-value filesystem a new user would write (every answer comes from a
/// store actor after 0–50 ms): O_TRUNC reaches it as a SETATTR unless it says it handles it in OPEN; async handlers
/// answer, and every way of not answering (a throw after an await, a forgotten reply, a request held by an actor
/// that stops or restarts) answers EIO at once rather than after the 60 s request timeout; interrupts arrive in the
/// filesystem actor as a message.
/// </summary>
public sealed class AuthorApiTests : FilesystemTestKit
{
    private static readonly FilesystemTestOptions NoCache = new() { Client = new VfsClientOptions { UseAttrCache = false } };
    // A liveness bound, not a speed target: "at once" here means well before the 60 s request timeout.
    private static readonly TimeSpan WellBeforeTheTimeout = TimeSpan.FromSeconds(15);

    private Task<ServedFilesystem> ServeKeyValueAsync(FilesystemTestOptions? options = null) =>
        ServeAsync(KeyValueFs.Props(Sys.ActorOf(KeyValueStore.Props())), options ?? NoCache);

    private static async Task<Errno> ErrnoOf(Task call) =>
        (await Assert.ThrowsAsync<FuseErrnoException>(() => call.WaitAsync(WellBeforeTheTimeout))).Errno;

    [Fact]
    public async Task Overwriting_with_O_TRUNC_leaves_no_old_tail_on_a_filesystem_that_keeps_the_default_Open()
    {
        await using var fs = await ServeKeyValueAsync();
        Assert.Equal(0UL, (ulong)(fs.Negotiated.Flags & InitFlags.AtomicOTrunc)); // O_TRUNC comes as SETATTR size 0

        await fs.Files.WriteAllTextAsync("note", "a long value\n");
        await fs.Files.WriteAllTextAsync("note", "short\n");
        Assert.Equal("short\n", await fs.Files.ReadAllTextAsync("note"));
    }

    [Fact]
    public async Task A_filesystem_that_handles_O_TRUNC_in_OPEN_gets_it_there()
    {
        await using var fs = await ServeAsync(MemoryFs.Props());
        Assert.NotEqual(0UL, (ulong)(fs.Negotiated.Flags & InitFlags.AtomicOTrunc));
        await fs.Files.WriteAllTextAsync("note", "a long value\n");
        await fs.Files.WriteAllTextAsync("note", "short\n");
        Assert.Equal("short\n", await fs.Files.ReadAllTextAsync("note"));
    }

    [Fact]
    public async Task Async_handlers_answer_many_concurrent_callers_from_a_slow_backend()
    {
        await using var fs = await ServeKeyValueAsync();
        var names = Enumerable.Range(0, 24).Select(i => $"file{i:00}").ToArray();
        await Task.WhenAll(names.Select(n => fs.Files.WriteAllTextAsync(n, $"value of {n}")));
        var read = await Task.WhenAll(names.Select(n => fs.Files.ReadAllTextAsync(n)));
        Assert.Equal(names.Select(n => $"value of {n}"), read);
        Assert.Equal(names, (await fs.Files.ListDirectoryAsync("")).Select(e => e.Name.ToString()).Order(StringComparer.Ordinal));

        await fs.Files.DeleteAsync("file00");
        Assert.False(await fs.Files.ExistsAsync("file00"));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(fs.Client.LookupAsync(FuseConstants.RootId, "missing")));
    }

    [Fact]
    public async Task A_continuation_that_throws_answers_EIO_at_once()
    {
        await using var fs = await ServeKeyValueAsync();
        Assert.Equal(Errno.EIO, await ErrnoOf(fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.ThrowsLater)));
        await fs.Files.WriteAllTextAsync("still-serving", "yes"); // the actor kept going
    }

    [Fact]
    public async Task A_handler_that_returns_without_answering_gets_EIO_at_once()
    {
        await using var fs = await ServeKeyValueAsync();
        Assert.Equal(Errno.EIO, await ErrnoOf(fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.Forgotten)));
    }

    [Fact]
    public async Task A_request_held_by_a_filesystem_that_restarts_is_answered_EIO_at_once()
    {
        var filesystem = Sys.ActorOf(KeyValueFs.Props(Sys.ActorOf(KeyValueStore.Props()))); // the guardian restarts it
        await using var fs = await ServeAsync(filesystem, NoCache);
        var held = fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.Held);
        await AwaitAssertAsync(async () => Assert.Equal(1, await filesystem.Ask<int>(new KeyValueFs.CountHeld())));

        filesystem.Tell(new KeyValueFs.Crash());
        Assert.Equal(Errno.EIO, await ErrnoOf(held));
        await fs.Files.WriteAllTextAsync("after-restart", "served"); // the restarted actor serves
    }

    [Fact]
    public async Task A_request_held_by_a_filesystem_that_stops_is_answered_EIO_at_once()
    {
        var filesystem = Sys.ActorOf(KeyValueFs.Props(Sys.ActorOf(KeyValueStore.Props())));
        await using var fs = await ServeAsync(filesystem, NoCache);
        var held = fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.Held);
        await AwaitAssertAsync(async () => Assert.Equal(1, await filesystem.Ask<int>(new KeyValueFs.CountHeld())));

        Sys.Stop(filesystem);
        Assert.Equal(Errno.EIO, await ErrnoOf(held));
    }

    [Fact]
    public async Task An_interrupt_reaches_the_filesystem_actor_as_a_message_and_cancels_its_async_handler()
    {
        // A grace far longer than the test: only the filesystem's own EINTR can end the request.
        var options = NoCache with { Connection = new ConnectionSettings { InterruptGrace = TimeSpan.FromMinutes(5) } };
        var filesystem = Sys.ActorOf(KeyValueFs.Props(Sys.ActorOf(KeyValueStore.Props())));
        await using var fs = await ServeAsync(filesystem, options);
        using var caller = new CancellationTokenSource();
        var call = fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.WaitsForInterrupt, caller.Token);
        await AwaitConditionAsync(() => Task.FromResult(fs.Device.ProcessingCount == 1));

        caller.Cancel();
        Assert.Equal(Errno.EINTR, await ErrnoOf(call));
        await AwaitConditionAsync(() => Task.FromResult(fs.Device.BackgroundCount == 0 && fs.Device.ProcessingCount == 0), WellBeforeTheTimeout);
        Assert.True(await filesystem.Ask<bool>(new KeyValueFs.WasInterruptHandledInActor()));
    }

    [Fact]
    public async Task The_request_timeout_runs_on_the_injected_clock_without_sleeping()
    {
        var clock = new FakeTimeProvider();
        var options = NoCache with { Connection = new ConnectionSettings { Time = clock, RequestTimeout = TimeSpan.FromHours(1) } };
        await using var fs = await ServeKeyValueAsync(options);
        var held = fs.Client.LookupAsync(FuseConstants.RootId, KeyValueFs.Held);
        await AwaitConditionAsync(() => Task.FromResult(fs.Device.ProcessingCount == 1));

        clock.Advance(TimeSpan.FromMinutes(59));
        await Task.Delay(200);
        Assert.False(held.IsCompleted);
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(Errno.EIO, await ErrnoOf(held));
        // The engine answered for it; the filesystem still holds it, so it stays in the background.
        var stats = await fs.Connection.Ask<ConnectionStats>(GetConnectionStats.Instance);
        Assert.Equal((0, 1), (stats.InFlight, stats.Background));
    }
}

/// <summary>Entries a filesystem adds to a READDIRPLUS reply carry the mount's configured timeouts, like LOOKUP's.</summary>
public sealed class ReadDirPlusTimeoutTests : FilesystemTestKit
{
    [Fact]
    public async Task ReadDirPlus_entries_carry_the_configured_entry_and_attr_timeouts()
    {
        var settings = new ConnectionSettings { EntryTimeout = TimeSpan.FromSeconds(7), AttrTimeout = TimeSpan.FromSeconds(3) };
        await using var fs = await ServeAsync(MemoryFs.Props(), new FilesystemTestOptions { Connection = settings });
        await fs.Files.WriteAllTextAsync("a", "x");
        var lookup = await fs.Client.LookupAsync(FuseConstants.RootId, "a");
        Assert.Equal((TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(3)), (lookup.EntryTimeout, lookup.AttrTimeout));

        var dir = await fs.Client.OpenDirAsync(FuseConstants.RootId);
        var entries = await fs.Client.ReadDirPlusAsync(dir);
        var a = Assert.Single(entries, e => e.Dirent.Name == "a");
        Assert.Equal((TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(3)), (a.Entry.EntryTimeout, a.Entry.AttrTimeout));
    }
}
