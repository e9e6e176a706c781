using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Tests;

/// <summary>
/// A filesystem actor's <c>NotifyInvalidateInode</c>, <c>NotifyInvalidateEntry</c> and <c>NotifyDelete</c>, served on
/// the VirtualDevice (the kernel's half in process): each one reaches the kernel side's caches, so the next access goes
/// to the filesystem again instead of being answered from the cache.
/// </summary>
public sealed class KernelNotificationTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromHours(1);

    public KernelNotificationTests() : base("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\nakka.log-dead-letters = 0") { }

    public sealed record InvalidateInode(ulong Node, long Offset = 0, long Length = 0);
    public sealed record InvalidateEntry(ulong Parent, FileName Name);
    public sealed record Delete(ulong Parent, ulong Child, FileName Name);
    public sealed record GetRefused;
    public sealed record Boom;
    public sealed record HasNotifier;

    public sealed class Counts
    {
        public int Lookups, GetAttrs;
    }

    /// <summary>Root (1) holds "a" (node 2); "neg" is a cached negative entry; everything is cached for an hour.</summary>
    private sealed class NotifyingFs(Counts counts) : FilesystemActor
    {
        private static FuseAttr Attr(ulong node) => node == 1
            ? new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 }
            : new FuseAttr { Ino = node, Mode = ModeBits.Regular | 0x1A4, Nlink = 1, Size = 5 };

        protected override void Lookup(LookupRequest r)
        {
            Interlocked.Increment(ref counts.Lookups);
            if (r.NodeId == 1 && r.Name == "a") r.Reply(new Entry { NodeId = 2, Attr = Attr(2), EntryTimeout = Long, AttrTimeout = Long });
            else r.ReplyNegative(Long);
        }

        protected override void GetAttr(GetAttrRequest r)
        {
            Interlocked.Increment(ref counts.GetAttrs);
            r.Reply(Attr(r.NodeId), Long);
        }

        protected override void OnOtherMessage(object message)
        {
            switch (message)
            {
                case InvalidateInode m: Sender.Tell(NotifyInvalidateInode(m.Node, m.Offset, m.Length)); break;
                case InvalidateEntry m: Sender.Tell(NotifyInvalidateEntry(m.Parent, m.Name)); break;
                case Delete m: Sender.Tell(NotifyDelete(m.Parent, m.Child, m.Name)); break;
                case GetRefused: Sender.Tell(Notifier?.KernelRefused ?? -1); break;
                case HasNotifier: Sender.Tell(Notifier is not null); break;
                case Boom: throw new InvalidOperationException("boom (test)");
                default: Unhandled(message); break;
            }
        }
    }

    /// <summary>Supervises its one child with Restart, as an application that owns its filesystem actor may.</summary>
    private sealed class RestartingParent : ReceiveActor
    {
        public RestartingParent(Props child)
        {
            var fs = Context.ActorOf(child, "fs");
            Receive<GetChild>(_ => Sender.Tell(fs));
        }

        protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);
    }

    private sealed record GetChild;

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"not within 10 s: {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Notifications_drop_cached_attributes_and_entries_and_the_next_access_reaches_the_filesystem()
    {
        var counts = new Counts();
        var actor = Sys.ActorOf(Props.Create(() => new NotifyingFs(counts)));
        // No connection yet: nothing accepts notifications.
        Assert.False(await actor.Ask<bool>(new InvalidateEntry(1, "a")));

        await using (var fs = await InProcessFilesystem.StartAsync(Sys, actor))
        {
            var cache = fs.Device.Cache;
            await fs.Client.LookupAsync(1, "a");
            Assert.True((await fs.Client.GetAttrAsync(2)).FromCache);
            int getAttrs = Volatile.Read(ref counts.GetAttrs);

            // INVAL_INODE: the attributes are gone, the next stat asks the filesystem.
            Assert.True(await actor.Ask<bool>(new InvalidateInode(2, -1)));
            await Eventually(() => !cache.TryGetAttr(2, out _), "attributes of node 2 dropped");
            Assert.False((await fs.Client.GetAttrAsync(2)).FromCache);
            Assert.Equal(getAttrs + 1, Volatile.Read(ref counts.GetAttrs));
            Assert.True((await fs.Client.GetAttrAsync(2)).FromCache); // and cached again

            // INVAL_ENTRY on a negative entry: the next lookup of the name reaches the filesystem.
            await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Client.LookupAsync(1, "neg"));
            int lookups = Volatile.Read(ref counts.Lookups);
            await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Client.LookupAsync(1, "neg"));
            Assert.Equal(lookups, Volatile.Read(ref counts.Lookups)); // answered from the negative entry
            Assert.True(await actor.Ask<bool>(new InvalidateEntry(1, "neg")));
            await Eventually(() => !cache.HasEntry(1, "neg"), "negative entry dropped");
            await Assert.ThrowsAsync<FuseErrnoException>(() => fs.Client.LookupAsync(1, "neg"));
            Assert.Equal(lookups + 1, Volatile.Read(ref counts.Lookups));

            // INVAL_ENTRY on a positive entry.
            Assert.True(cache.TryGetEntry(1, "a", out var node) && node == 2);
            Assert.True(await actor.Ask<bool>(new InvalidateEntry(1, "a")));
            await Eventually(() => !cache.HasEntry(1, "a"), "entry a dropped");

            // DELETE: the entry goes and the node counts as unlinked.
            await fs.Client.LookupAsync(1, "a");
            Assert.True(cache.TryGetEntry(1, "a", out _));
            Assert.True(await actor.Ask<bool>(new Delete(1, 2, "a")));
            await Eventually(() => !cache.HasEntry(1, "a") && cache.IsDeleted(2), "a deleted");

            // What the kernel refuses (ENOENT: nothing cached for that node) is counted and ignored.
            Assert.True(await actor.Ask<bool>(new InvalidateInode(99)));
            await Eventually(() => actor.Ask<long>(new GetRefused()).Result == 1, "the ENOENT counted");
            Assert.True(await actor.Ask<bool>(new InvalidateEntry(1, "a"))); // the mount goes on
        }

        // The connection ended: nothing accepts notifications any more.
        Assert.False(await actor.Ask<bool>(new InvalidateInode(2)));
        Assert.False(await actor.Ask<bool>(new Delete(1, 2, "a")));
    }

    [Fact]
    public async Task A_filesystem_actor_restarted_by_its_supervisor_keeps_the_notifier()
    {
        // The kernel sends INIT once per connection: the instance that replaces a failed one must still notify.
        var counts = new Counts();
        var parent = Sys.ActorOf(Props.Create(() => new RestartingParent(Props.Create(() => new NotifyingFs(counts)))));
        var actor = await parent.Ask<IActorRef>(new GetChild(), TimeSpan.FromSeconds(10));
        await using var fs = await InProcessFilesystem.StartAsync(Sys, actor);
        await fs.Client.LookupAsync(1, "a");
        Assert.True((await fs.Client.GetAttrAsync(2)).FromCache);
        Assert.True(await actor.Ask<bool>(new HasNotifier(), TimeSpan.FromSeconds(10)));

        await EventFilter.Exception<InvalidOperationException>().ExpectOneAsync(async () => actor.Tell(new Boom()));
        Assert.True(await actor.Ask<bool>(new HasNotifier(), TimeSpan.FromSeconds(10)), "the restarted instance lost the notifier");
        Assert.True(await actor.Ask<bool>(new InvalidateInode(2, -1), TimeSpan.FromSeconds(10)));
        await Eventually(() => !fs.Device.Cache.TryGetAttr(2, out _), "attributes of node 2 dropped after the restart");
    }
}
