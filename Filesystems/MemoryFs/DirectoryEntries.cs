using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>One name in a directory. <see cref="Cookie"/> is its readdir position, fixed for the entry's life.</summary>
internal sealed class DirEntry(FileName name, ulong cookie, Inode node)
{
    public readonly FileName Name = name;
    public readonly ulong Cookie = cookie;
    /// <summary>Mutable so RENAME_EXCHANGE can swap nodes while both names keep their positions.</summary>
    public Inode Node = node;
}

/// <summary>
/// The entries of a directory: by name for lookups, and in cookie order for READDIR. Each new entry gets the
/// next cookie of this directory (monotonic, never reused), so a listing that continues "after cookie X" neither
/// skips nor repeats entries that existed throughout, however many were added or removed in between.
/// The ordered side is an array sorted by cookie (appends are always at the end, because cookies only grow):
/// finding where to continue is a binary search; removal leaves a tombstone that keeps its cookie, and the array
/// is compacted once tombstones outnumber live entries, so removal is O(log n) plus O(1) amortised. (SortedSet.GetViewBetween would recount the
/// whole view on every call, and SortedList removal shifts the array each time.)
/// </summary>
internal sealed class DirectoryEntries
{
    /// <summary>1 and 2 are "." and ".."; 0 means "from the start".</summary>
    public const ulong FirstCookie = 3;

    // Keyed by the name's exact bytes: names that differ only in bytes that are not UTF-8 are different entries.
    private readonly Dictionary<FileName, DirEntry> _byName = new();
    private Slot[] _slots = new Slot[4];
    private int _used;   // slots in use, live or dead
    private int _dead;   // tombstones among them
    private ulong _nextCookie = FirstCookie;

    /// <summary>A tombstone keeps its cookie (Entry = null), so the array stays sorted for the binary search.</summary>
    private struct Slot
    {
        public ulong Cookie;
        public DirEntry? Entry;
    }

    public int Count => _byName.Count;
    public int SubdirCount { get; private set; }

    public bool TryGet(FileName name, out DirEntry entry) => _byName.TryGetValue(name, out entry!);

    /// <summary>Adds a name the caller checked is absent.</summary>
    public DirEntry Add(FileName name, Inode node)
    {
        var e = new DirEntry(name, _nextCookie++, node);
        _byName.Add(name, e);
        if (_used == _slots.Length)
        {
            // Compact only when that frees a good share, so add/remove churn at full capacity stays O(1) amortised.
            if (_dead >= _used / 4) Compact();
            if (_used == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
        }
        _slots[_used++] = new Slot { Cookie = e.Cookie, Entry = e };
        if (node.IsDirectory) SubdirCount++;
        return e;
    }

    public bool Remove(FileName name, out DirEntry entry)
    {
        if (!_byName.Remove(name, out entry!)) return false;
        int i = IndexAfter(entry.Cookie - 1);
        _slots[i].Entry = null;
        _dead++;
        if (entry.Node.IsDirectory) SubdirCount--;
        if (_dead > 16 && _dead > _used - _dead) Compact();
        return true;
    }

    /// <summary>Swaps the nodes of two entries (RENAME_EXCHANGE within this directory or across two);
    /// both names keep their cookies.</summary>
    public static void Exchange(DirectoryEntries dirA, DirEntry a, DirectoryEntries dirB, DirEntry b)
    {
        (a.Node, b.Node) = (b.Node, a.Node);
        if (a.Node.IsDirectory != b.Node.IsDirectory && dirA != dirB)
        {
            int delta = a.Node.IsDirectory ? 1 : -1; // a now holds what b held
            dirA.SubdirCount += delta;
            dirB.SubdirCount -= delta;
        }
    }

    /// <summary>Enumerates live entries with a cookie greater than <paramref name="cookie"/>, in cookie order.
    /// The directory must not change during the enumeration.</summary>
    public Enumerator After(ulong cookie) => new(this, IndexAfter(cookie));

    public Dictionary<FileName, DirEntry>.ValueCollection Entries => _byName.Values;

    /// <summary>Index of the first slot whose cookie is greater than <paramref name="cookie"/> (binary search).</summary>
    private int IndexAfter(ulong cookie)
    {
        int lo = 0, hi = _used;
        while (lo < hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (_slots[mid].Cookie > cookie) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    private void Compact()
    {
        int w = 0;
        for (int r = 0; r < _used; r++)
            if (_slots[r].Entry is not null) _slots[w++] = _slots[r];
        Array.Clear(_slots, w, _used - w);
        _used = w;
        _dead = 0;
        if (_slots.Length > 64 && _used < _slots.Length / 4) Array.Resize(ref _slots, Math.Max(64, _slots.Length / 2));
    }

    public struct Enumerator
    {
        private readonly DirectoryEntries _dir;
        private int _index;

        internal Enumerator(DirectoryEntries dir, int start)
        {
            _dir = dir;
            _index = start - 1;
            Current = null!;
        }

        public DirEntry Current { get; private set; }

        public bool MoveNext()
        {
            while (++_index < _dir._used)
            {
                if (_dir._slots[_index].Entry is { } e) { Current = e; return true; }
            }
            return false;
        }

        public readonly Enumerator GetEnumerator() => this;
    }
}
