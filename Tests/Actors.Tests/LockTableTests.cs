using FuseActors.Actors.Filesystem;

namespace FuseActors.Actors.Tests;

/// <summary><see cref="LockTable{TOwner}"/> against fcntl(2)'s record-lock rules, as Linux applies them.</summary>
public sealed class LockTableTests
{
    private const ulong Eof = FileLock.ToEndOfFile;
    private static FileLock R(ulong start, ulong end, uint pid = 1) => new(start, end, LockType.Read, pid);
    private static FileLock W(ulong start, ulong end, uint pid = 1) => new(start, end, LockType.Write, pid);
    private static FileLock U(ulong start, ulong end) => new(start, end, LockType.Unlock, 0);

    /// <summary>An owner's locks, sorted by start, as (start, end, type).</summary>
    private static (ulong, ulong, LockType)[] Of(LockTable<int> t, int owner)
    {
        var list = new List<(ulong, ulong, LockType)>();
        foreach (var (o, l) in t.Locks)
            if (o == owner) list.Add((l.Start, l.End, l.Type));
        list.Sort();
        return list.ToArray();
    }

    [Fact]
    public void An_empty_table_has_no_conflicts_and_takes_any_lock()
    {
        var t = new LockTable<int>();
        Assert.True(t.IsEmpty);
        Assert.Null(t.FindConflict(1, W(0, Eof)));
        Assert.True(t.TrySet(1, W(0, 9)));
        Assert.False(t.IsEmpty);
        Assert.Equal([(0ul, 9ul, LockType.Write)], Of(t, 1));
    }

    [Fact]
    public void Write_conflicts_with_anything_read_only_with_write_and_an_owner_never_with_itself()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, 9)));
        Assert.True(t.TrySet(2, R(5, 14)));                 // read + read: shared
        Assert.Equal(R(0, 9), t.FindConflict(3, W(9, 9)));  // write against a read
        Assert.False(t.TrySet(3, W(9, 20)));
        Assert.Null(t.FindConflict(1, W(0, 4)));            // own lock: no conflict
        Assert.Null(t.FindConflict(3, W(15, Eof)));         // no overlap
        Assert.True(t.TrySet(3, W(15, Eof)));
        Assert.NotNull(t.FindConflict(1, R(100, 100)));     // read against another owner's write
        Assert.Null(t.FindConflict(1, U(0, Eof)));          // an unlock never conflicts
        Assert.Equal([(0ul, 9ul, LockType.Read)], Of(t, 1));
        Assert.Equal([(5ul, 14ul, LockType.Read)], Of(t, 2));
        Assert.Equal([(15ul, Eof, LockType.Write)], Of(t, 3));
    }

    [Fact]
    public void A_refused_lock_changes_nothing()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, 9)));
        Assert.True(t.TrySet(1, W(20, 29)));
        Assert.True(t.TrySet(2, W(40, 49)));
        var before = Of(t, 1);
        // Would merge with 0..9 and cut 20..29, but 40..49 of owner 2 conflicts.
        Assert.False(t.TrySet(1, W(0, 45)));
        Assert.Equal(before, Of(t, 1));
        Assert.Equal([(40ul, 49ul, LockType.Write)], Of(t, 2));
    }

    [Fact]
    public void Overlapping_and_adjacent_ranges_of_the_same_type_merge()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, 4)));
        Assert.True(t.TrySet(1, R(10, 14)));
        Assert.True(t.TrySet(1, R(5, 9)));                  // touches both: one lock
        Assert.Equal([(0ul, 14ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, R(12, 30)));                // overlaps the end
        Assert.Equal([(0ul, 30ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, R(40, Eof)));
        Assert.True(t.TrySet(1, R(31, 39)));
        Assert.Equal([(0ul, Eof, LockType.Read)], Of(t, 1));
    }

    [Fact]
    public void A_lock_of_another_type_inside_a_range_splits_it()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, 99)));
        Assert.True(t.TrySet(1, W(40, 59)));                // upgrade the middle
        Assert.Equal([(0ul, 39ul, LockType.Read), (40ul, 59ul, LockType.Write), (60ul, 99ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, R(50, 70)));                // downgrade part of it: merges with the read tail
        Assert.Equal([(0ul, 39ul, LockType.Read), (40ul, 49ul, LockType.Write), (50ul, 99ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, W(0, Eof)));                // upgrade everything
        Assert.Equal([(0ul, Eof, LockType.Write)], Of(t, 1));
    }

    [Fact]
    public void Upgrading_a_shared_lock_waits_for_the_other_readers()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, Eof)));
        Assert.True(t.TrySet(2, R(0, Eof)));
        Assert.False(t.TrySet(1, W(0, Eof)));               // flock -s then flock -x by two holders
        Assert.Equal([(0ul, Eof, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(2, U(0, Eof)));
        Assert.True(t.TrySet(1, W(0, Eof)));
        Assert.Equal([(0ul, Eof, LockType.Write)], Of(t, 1));
    }

    [Fact]
    public void Unlocking_the_middle_leaves_both_ends_and_unlock_cuts_every_type()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, W(0, 99)));
        Assert.True(t.TrySet(1, U(10, 19)));
        Assert.Equal([(0ul, 9ul, LockType.Write), (20ul, 99ul, LockType.Write)], Of(t, 1));
        Assert.True(t.TrySet(1, R(200, 299)));
        Assert.True(t.TrySet(1, U(50, 249)));               // cuts a write tail and a read head
        Assert.Equal([(0ul, 9ul, LockType.Write), (20ul, 49ul, LockType.Write), (250ul, 299ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, U(0, 0)));                  // the first byte
        Assert.Equal([(1ul, 9ul, LockType.Write), (20ul, 49ul, LockType.Write), (250ul, 299ul, LockType.Read)], Of(t, 1));
        Assert.True(t.TrySet(1, U(5000, Eof)));             // nothing there: nothing changes, still true
        Assert.True(t.TrySet(1, U(0, Eof)));
        Assert.True(t.IsEmpty);
    }

    [Fact]
    public void Ranges_to_the_end_of_the_file_split_and_merge_without_overflow()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, W(100, Eof)));
        Assert.True(t.TrySet(1, U(Eof, Eof)));              // the very last byte
        Assert.Equal([(100ul, Eof - 1, LockType.Write)], Of(t, 1));
        Assert.True(t.TrySet(1, W(Eof, Eof)));              // adjacent again: merges
        Assert.Equal([(100ul, Eof, LockType.Write)], Of(t, 1));
        Assert.True(t.TrySet(1, R(0, 99)));                 // adjacent, other type: stays apart
        Assert.Equal([(0ul, 99ul, LockType.Read), (100ul, Eof, LockType.Write)], Of(t, 1));
        Assert.True(t.TrySet(2, R(0, 99)));
        Assert.Equal(W(100, Eof), t.FindConflict(2, R(0, Eof)));
        Assert.Null(t.FindConflict(2, R(50, 99)));
    }

    [Fact]
    public void The_merged_lock_takes_the_new_pid_and_pieces_keep_theirs()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, W(0, 9, pid: 10)));
        Assert.True(t.TrySet(1, W(10, 19, pid: 11)));
        Assert.True(t.TrySet(1, R(5, 5, pid: 12)));
        var locks = new List<FileLock>();
        foreach (var (_, l) in t.Locks) locks.Add(l);
        locks.Sort((a, b) => a.Start.CompareTo(b.Start));
        Assert.Equal([W(0, 4, 11), R(5, 5, 12), W(6, 19, 11)], locks);
    }

    [Fact]
    public void ReleaseAll_and_ReleaseWhere_drop_owners_and_leave_the_rest()
    {
        var t = new LockTable<int>();
        Assert.True(t.TrySet(1, R(0, 9)));
        Assert.True(t.TrySet(1, R(20, 29)));
        Assert.True(t.TrySet(2, R(0, 9)));
        Assert.True(t.TrySet(3, W(50, 59)));
        Assert.True(t.TrySet(4, W(60, 69)));
        t.ReleaseAll(1);
        Assert.Empty(Of(t, 1));
        Assert.Single(Of(t, 2));
        t.ReleaseWhere(o => o >= 3);
        Assert.Empty(Of(t, 3));
        Assert.Empty(Of(t, 4));
        Assert.True(t.TrySet(5, W(50, 69)));
        t.ReleaseAll(2);
        t.ReleaseAll(5);
        Assert.True(t.IsEmpty);
    }

    [Fact]
    public void A_range_that_ends_before_it_starts_is_refused_loudly()
    {
        var t = new LockTable<int>();
        Assert.Throws<ArgumentOutOfRangeException>(() => t.TrySet(1, W(10, 9)));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.TrySet(1, new FileLock(0, 1, (LockType)7, 0)));
        Assert.True(t.IsEmpty);
    }

    [Fact]
    public void Owners_are_compared_with_IEquatable()
    {
        var t = new LockTable<(ulong Node, ulong Owner)>();
        Assert.True(t.TrySet((1, 7), W(0, Eof)));
        Assert.Null(t.FindConflict((1, 7), W(0, Eof)));
        Assert.NotNull(t.FindConflict((2, 7), R(0, 0)));
    }
}
