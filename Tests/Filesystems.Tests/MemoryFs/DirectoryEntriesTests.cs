using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Filesystems.Tests.MemoryFsTests;

public class DirectoryEntriesTests
{
    private static readonly FsTime T0 = new(0, 0);
    private static ulong _ino = 100;
    private static Inode File() => new(Interlocked.Increment(ref _ino), ModeBits.Regular | 0x1A4, 0, 0, T0);
    private static Inode Dir() => new(Interlocked.Increment(ref _ino), ModeBits.Directory | 0x1ED, 0, 0, T0);

    private static List<DirEntry> After(DirectoryEntries d, ulong cookie)
    {
        var list = new List<DirEntry>();
        foreach (var e in d.After(cookie)) list.Add(e);
        return list;
    }

    [Fact]
    public void Cookies_start_at_three_and_are_never_reused()
    {
        var d = new DirectoryEntries();
        var a = d.Add("a", File());
        var b = d.Add("b", File());
        Assert.Equal(3UL, a.Cookie);
        Assert.Equal(4UL, b.Cookie);
        d.Remove("b", out _);
        var b2 = d.Add("b", File());
        Assert.Equal(5UL, b2.Cookie);
    }

    [Fact]
    public void After_returns_live_entries_in_cookie_order_even_from_a_removed_cookie()
    {
        var d = new DirectoryEntries();
        for (int i = 0; i < 10; i++) d.Add($"n{i}", File()); // cookies 3..12
        d.Remove("n4", out _); // cookie 7
        d.Remove("n5", out _); // cookie 8
        Assert.Equal(["n6", "n7", "n8", "n9"], After(d, 7).Select(e => e.Name));
        Assert.Equal(10 - 2, After(d, 0).Count);
        Assert.Empty(After(d, 12));
    }

    [Fact]
    public void Order_and_lookup_survive_compaction()
    {
        var d = new DirectoryEntries();
        for (int i = 0; i < 1000; i++) d.Add($"n{i}", File());
        for (int i = 0; i < 1000; i++)
            if (i % 10 != 0) d.Remove($"n{i}", out _);
        for (int i = 0; i < 50; i++) d.Add($"m{i}", File());
        var all = After(d, 0);
        Assert.Equal(150, all.Count);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Cookie < p.Second.Cookie));
        Assert.True(d.TryGet("n990", out var e) && e.Cookie == 993);
        Assert.Equal("m0", After(d, 993)[0].Name);
    }

    [Fact]
    public void Subdirectory_count_follows_adds_removes_and_exchanges()
    {
        var a = new DirectoryEntries();
        var b = new DirectoryEntries();
        a.Add("d1", Dir());
        a.Add("f1", File());
        var f = b.Add("f2", File());
        Assert.Equal(1, a.SubdirCount);
        Assert.True(a.TryGet("d1", out var d1));
        DirectoryEntries.Exchange(a, d1, b, f);
        Assert.Equal(0, a.SubdirCount);
        Assert.Equal(1, b.SubdirCount);
        b.Remove("f2", out _);
        Assert.Equal(0, b.SubdirCount);
    }

    [Fact]
    public void Random_churn_matches_a_sorted_model()
    {
        var rng = new Random(7);
        var d = new DirectoryEntries();
        var model = new SortedDictionary<ulong, FileName>();
        var names = new Dictionary<FileName, ulong>();
        int next = 0;
        for (int step = 0; step < 20000; step++)
        {
            if (names.Count > 0 && rng.Next(3) == 0)
            {
                var victim = names.Keys.ElementAt(rng.Next(names.Count));
                Assert.True(d.Remove(victim, out _));
                model.Remove(names[victim]);
                names.Remove(victim);
            }
            else
            {
                var e = d.Add($"x{next++}", File());
                model.Add(e.Cookie, e.Name);
                names.Add(e.Name, e.Cookie);
            }
            if (step % 997 == 0)
            {
                ulong from = model.Count == 0 ? 0 : model.Keys.ElementAt(rng.Next(model.Count)) - (ulong)rng.Next(2);
                Assert.Equal(model.Where(kv => kv.Key > from).Select(kv => kv.Value), After(d, from).Select(e => e.Name));
            }
        }
        Assert.Equal(names.Count, d.Count);
    }
}
