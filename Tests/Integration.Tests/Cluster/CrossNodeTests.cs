using FuseActors.Integration.Tests.Support;
using FuseActors.Tests.Shared;
using Xunit.Abstractions;

namespace FuseActors.Integration.Tests.Cluster;

/// <summary>
/// One cluster filesystem seen through three mounts, each served by its own node process: what real programs do on
/// one node is what the others see. One cluster per concrete class (its fixture); each test works in a directory of
/// its own. Whatever is checked on another node than the one that made the change is polled for (bounded), since the
/// other kernels learn of it by notifications.
/// </summary>
public abstract class CrossNodeTests : ClusterTestBase
{
    protected CrossNodeTests(ThreeNodeCluster cluster, ITestOutputHelper output) : base(cluster, output) { }

    private ClusterNodeProcess A => Cluster.A;
    private ClusterNodeProcess B => Cluster.B;
    private ClusterNodeProcess C => Cluster.C;

    [Fact]
    public Task Files_written_on_A_read_back_byte_for_byte_on_B_and_C_including_3_MiB_across_chunks() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("bytes");
        var host = Directory.CreateTempSubdirectory("fuseactors-bytes-").FullName;
        try
        {
            // Every byte value once, through printf; 3 MiB + 123 bytes of random data through dd in 64 KiB writes.
            await Shell.OkAsync($$"""
                i=0; while [ $i -lt 256 ]; do printf "\\$(printf %o $i)"; i=$((i+1)); done > {{host}}/small
                head -c 3145851 /dev/urandom > {{host}}/big
                cp {{host}}/small {{A[d]}}/small
                dd if={{host}}/big of={{A[d]}}/big bs=64k conv=fsync status=none
                """);
            Assert.Equal(256, new FileInfo($"{host}/small").Length);
            var expected = await Shell.OkAsync($"cd {host} && sha256sum small big");
            foreach (var n in new[] { B, C })
                await EventuallyOutputAsync(expected, "sha256sum small big", n[d]);
            await Shell.OkAsync($"cmp {host}/big {B[d]}/big && cmp {host}/small {C[d]}/small");
            Assert.Equal("256 3145851\n", await Shell.OkAsync("stat -c %s small big | tr '\\n' ' ' | sed 's/ $/\\n/'", B[d]));
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    });

    [Fact]
    public Task A_rename_on_B_is_seen_on_C_old_name_gone_new_name_with_the_same_content() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("rename");
        await Shell.OkAsync("printf 'renamed content\\n' > old", A[d]);
        await EventuallyOutputAsync("renamed content\n", "cat old", C[d]); // C knows the old name first
        await EventuallyOkAsync("mv old new", B[d]);
        await EventuallyOutputAsync("gone\nrenamed content\n", "test ! -e old && echo gone && cat new", C[d]);
        Assert.Equal("new\n", await Shell.OkAsync("ls", C[d]));
        Assert.Equal("new\n", await Shell.OkAsync("ls", A[d]));
    });

    [Fact]
    public Task Concurrent_renames_from_two_nodes_never_lose_or_duplicate_an_entry_nor_leave_a_wrong_link_count() => Logged(async () =>
    {
        // A moves everything from d1 to d2 while B moves everything back, three rounds each at once: each rename is
        // one event in the namespace's journal, so every file and directory ends in exactly one place, whole, and
        // each directory's link count is 2 plus its subdirectories.
        var d = await NewDirectoryAsync("renames");
        await Shell.OkAsync("""
            mkdir d1 d2
            for i in $(seq 1 40); do echo "file $i" > d1/f$i; done
            for i in $(seq 1 5); do mkdir d1/s$i; echo "inside $i" > d1/s$i/x; done
            """, A[d], TimeSpan.FromSeconds(60));
        await EventuallyOutputAsync("45\n", "ls d1 | wc -l", B[d]);
        var a = Shell.OkAsync("for r in 1 2 3; do for n in $(ls d1); do mv d1/$n d2/$n 2>/dev/null; done; done; true", A[d], TimeSpan.FromSeconds(120));
        var b = Shell.OkAsync("for r in 1 2 3; do for n in $(ls d2); do mv d2/$n d1/$n 2>/dev/null; done; done; true", B[d], TimeSpan.FromSeconds(120));
        await Task.WhenAll(a, b);
        foreach (var n in new[] { A, B, C })
        {
            var names = (await Shell.OkAsync("ls d1 d2 | grep -v : | grep . | sort", n[d])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var expected = Enumerable.Range(1, 40).Select(i => $"f{i}").Concat(Enumerable.Range(1, 5).Select(i => $"s{i}")).Order(StringComparer.Ordinal);
            Assert.Equal(expected, names.Order(StringComparer.Ordinal));
            // Every file whole with one link; every subdirectory with its file; directory link counts right.
            Assert.Equal("ok\n", await Shell.OkAsync("""
                for f in d1/f* d2/f*; do [ -e "$f" ] || continue; n=${f##*/f}; [ "$(cat $f)" = "file $n" ] || { echo "bad $f"; exit 1; }; [ "$(stat -c %h $f)" = 1 ] || { echo "links $f"; exit 1; }; done
                for s in d1/s* d2/s*; do [ -e "$s" ] || continue; n=${s##*/s}; [ "$(cat $s/x)" = "inside $n" ] || { echo "bad $s"; exit 1; }; [ "$(stat -c %h $s)" = 2 ] || { echo "links $s"; exit 1; }; done
                for p in d1 d2; do subs=$(find $p -mindepth 1 -maxdepth 1 -type d | wc -l); [ "$(stat -c %h $p)" = $((2 + subs)) ] || { echo "links $p"; exit 1; }; done
                echo ok
                """, n[d]));
        }
    });

    [Fact]
    public Task Two_hundred_files_created_on_A_are_all_listed_on_B() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("many");
        await Shell.OkAsync("for i in $(seq 1 200); do echo \"file $i\" > f$i; done", A[d], TimeSpan.FromSeconds(90));
        await EventuallyOutputAsync("200\n", "ls | wc -l", B[d]);
        Assert.Equal("file 1\nfile 117\nfile 200\n", await Shell.OkAsync("cat f1 f117 f200", B[d]));
        Assert.Equal(await Shell.OkAsync("ls -1", A[d]), await Shell.OkAsync("ls -1", B[d]));
    });

    [Fact]
    public Task An_append_on_B_is_read_on_C() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("append");
        await Shell.OkAsync("echo one > f", A[d]);
        await EventuallyOutputAsync("one\n", "cat f", B[d]);
        await Shell.OkAsync("echo two >> f", B[d]);
        await EventuallyOutputAsync("one\ntwo\n", "cat f", C[d]);
        await Shell.OkAsync("printf three >> f", C[d]);
        await EventuallyOutputAsync("one\ntwo\nthree", "cat f", A[d]);
        await EventuallyOutputAsync("one\ntwo\nthree", "cat f", B[d]);
    });

    [Fact]
    public Task A_git_repository_committed_on_A_is_clean_with_the_same_log_on_B() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("git");
        await Shell.OkAsync("""
            git init -q repo && cd repo
            printf 'hello\n' > README && mkdir -p src/lib && printf 'int main() { return 0; }\n' > src/main.c
            printf 'lib\n' > src/lib/a.txt && head -c 200000 /dev/urandom > blob.bin && ln -s README link
            git add -A && git commit -qm 'first commit'
            printf 'more\n' >> README && git mv src/lib/a.txt src/lib/b.txt && git add -A && git commit -qm 'second commit'
            git status --porcelain
            """, A[d], TimeSpan.FromSeconds(90));
        var log = await Shell.OkAsync("git log --oneline", A[d] + "/repo");
        Assert.Equal(2, log.Trim().Split('\n').Length);
        await EventuallyOutputAsync(log, "git log --oneline", B[d] + "/repo");
        await EventuallyOutputAsync("", "git status --porcelain", B[d] + "/repo");
        await Shell.OkAsync("git fsck --no-progress --strict", B[d] + "/repo", TimeSpan.FromSeconds(60));
        Assert.Equal(await Shell.OkAsync("git ls-files -s", A[d] + "/repo"), await Shell.OkAsync("git ls-files -s", B[d] + "/repo"));
    });

    [Fact]
    public Task An_flock_held_on_A_excludes_B_until_A_releases_it() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("flock");
        var host = Directory.CreateTempSubdirectory("fuseactors-flock-").FullName;
        try
        {
            await Shell.OkAsync("touch lock", A[d]);
            await EventuallyOkAsync("test -f lock", B[d]);
            // A holds the lock for 5 s; it marks on the host when it got it and when it is about to let go.
            var holder = Shell.RunAsync($"flock -x {A[d]}/lock sh -c 'touch {host}/held; sleep 5; touch {host}/releasing'",
                timeout: TimeSpan.FromSeconds(60));
            await EventuallyOkAsync($"test -e {host}/held", within: TimeSpan.FromSeconds(20));
            var tryLock = await Shell.RunAsync($"flock -n {B[d]}/lock true");
            Assert.True(tryLock.ExitCode == 1, $"flock -n on B while A holds the lock: {tryLock}");
            // B waits for the lock; it must get it only after A's release.
            Assert.Equal("after release\n",
                await Shell.OkAsync($"flock -w 20 {B[d]}/lock sh -c 'test -e {host}/releasing && echo after release'",
                    timeout: TimeSpan.FromSeconds(40)));
            var held = await holder;
            Assert.True(held.ExitCode == 0, $"holder on A: {held}");
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    });

    [Fact]
    public Task A_POSIX_lock_held_on_A_gives_B_EAGAIN_until_released() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("lockf");
        await Shell.OkAsync("echo data > f", A[d]);
        await EventuallyOkAsync("test -f f", B[d]);
        var output = await Shell.OkAsync($$"""
            python3 - {{A[d]}}/f {{B[d]}}/f <<'PY'
            import fcntl, subprocess, sys, time
            probe = '''
            import fcntl, sys
            f = open(sys.argv[1], "r+")
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("locked")
            except BlockingIOError as e:
                print("EAGAIN", e.errno)
            '''
            def try_on_b():
                r = subprocess.run([sys.executable, "-c", probe, sys.argv[2]], capture_output=True, text=True, timeout=30)
                return (r.stdout + r.stderr).strip()
            f = open(sys.argv[1], "r+")
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("A:", "locked")
            print("B:", try_on_b())
            fcntl.lockf(f, fcntl.LOCK_UN)
            deadline = time.time() + 10
            while True:
                out = try_on_b()
                if out == "locked" or time.time() > deadline:
                    break
                time.sleep(0.1)
            print("B after unlock:", out)
            PY
            """, timeout: TimeSpan.FromSeconds(90));
        Assert.Equal("A: locked\nB: EAGAIN 11\nB after unlock: locked\n", output);
    });

    [Fact]
    public Task An_unlinked_file_still_open_on_A_stays_readable_on_A_until_closed() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("unlinked");
        var output = await Shell.OkAsync($$"""
            python3 - {{A[d]}}/doomed {{B[d]}}/doomed <<'PY'
            import os, subprocess, sys, time
            a, b = sys.argv[1], sys.argv[2]
            f = open(a, "w+b")
            f.write(b"still here " * 100000)  # ~1.1 MB: two chunks
            f.flush(); os.fsync(f.fileno())
            deadline = time.time() + 10
            while not os.path.exists(b) and time.time() < deadline: time.sleep(0.1)
            subprocess.run(["rm", b], check=True)  # unlinked on B
            deadline = time.time() + 10
            while os.path.exists(a) and time.time() < deadline: time.sleep(0.1)
            print("name gone on A:", not os.path.exists(a))
            f.seek(0)
            print("read on A:", f.read() == b"still here " * 100000)
            print("nlink:", os.fstat(f.fileno()).st_nlink)
            f.seek(0, 2); f.write(b"and more"); f.flush()
            f.seek(1100000)
            print("tail:", f.read())
            f.close()
            PY
            """, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal("name gone on A: True\nread on A: True\nnlink: 0\ntail: b'and more'\n", output);
        await EventuallyOutputAsync("", "ls -A", C[d]);
        Assert.Equal("", await Shell.OkAsync("ls -A", A[d]));
    });

    [Fact]
    public Task Mkdir_rmdir_hard_links_symlinks_and_chmod_are_seen_across_nodes() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("meta");
        await Shell.OkAsync("""
            mkdir -p sub/deeper && echo content > file && ln file hard && ln -s file sym && ln -s sub/deeper dirlink
            chmod 640 file && chmod 700 sub
            """, A[d]);
        const string fmt = "stat -c '%n %F %a %h %s' sub sub/deeper file hard sym dirlink";
        var onA = await Shell.OkAsync(fmt, A[d]);
        Assert.Contains("file regular file 640 2 8\n", onA);
        await EventuallyOutputAsync(onA, fmt, B[d]);
        Assert.Equal("file\ncontent\n", await Shell.OkAsync("readlink sym && cat sym", B[d]));

        // B removes a directory and one of the two names; C changes a mode; each is seen by the others.
        await Shell.OkAsync("rmdir sub/deeper && rm file && chmod 604 hard && mkdir made-on-b", B[d]);
        await EventuallyOutputAsync("gone\n604 1 content\n", "test ! -e sub/deeper && test ! -e file && echo gone && " +
            "stat -c '%a %h' hard | tr '\\n' ' ' && cat hard", C[d]);
        await EventuallyOutputAsync("dangling\n", "test -L sym && test ! -e sym && test -d made-on-b && echo dangling", A[d]);
        await Shell.OkAsync("chmod 755 sub && rmdir made-on-b && ln hard hard2", C[d]);
        await EventuallyOutputAsync("755\n2\ndirlink\nhard\nhard2\nsub\nsym\n", "stat -c %a sub && stat -c %h hard && ls -1", A[d]);
        await EventuallyOutputAsync("2 2\n", "stat -c %h hard hard2 | tr '\\n' ' ' | sed 's/ $/\\n/'", B[d]);
    });

    [Fact]
    public Task Xattrs_set_on_one_node_are_read_listed_and_removed_on_the_others() => Logged(async () =>
    {
        var d = await NewDirectoryAsync("xattr");
        await Shell.OkAsync("echo x > f && mkdir dir", A[d]);
        const string py = """
            python3 - "$@" <<'PY'
            import os, sys, time
            op, path = sys.argv[1], sys.argv[2]
            if op == "set": os.setxattr(path, sys.argv[3], sys.argv[4].encode())
            elif op == "remove": os.removexattr(path, sys.argv[3])
            elif op == "show":
                names = sorted(n for n in os.listxattr(path) if n.startswith("user."))
                print(" ".join(f"{n}={os.getxattr(path, n).decode()}" for n in names))
            PY
            """;
        string X(string args) => $"set -- {args}\n{py}";
        await Shell.OkAsync(X($"set {A[d]}/f user.color blue") + "\n" + X($"set {A[d]}/dir user.kind directory"));
        await EventuallyOutputAsync("user.color=blue\n", X($"show {B[d]}/f"));
        await EventuallyOutputAsync("user.kind=directory\n", X($"show {B[d]}/dir"));
        await Shell.OkAsync(X($"set {B[d]}/f user.color green") + "\n" + X($"set {B[d]}/f user.size 42"));
        await EventuallyOutputAsync("user.color=green user.size=42\n", X($"show {C[d]}/f"));
        await Shell.OkAsync(X($"remove {C[d]}/f user.color"));
        await EventuallyOutputAsync("user.size=42\n", X($"show {A[d]}/f"));
        var missing = await Shell.RunAsync($"python3 -c 'import os; os.getxattr(\"{A[d]}/f\", \"user.color\")'");
        Assert.Contains("No data available", missing.Stderr);
    });
}

/// <summary>The cross-node tests on a SQLite file shared by the three nodes.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SqliteCrossNodeTests(ThreeNodeCluster cluster, ITestOutputHelper output)
    : CrossNodeTests(cluster, output), IClassFixture<ThreeNodeCluster>;

/// <summary>The cross-node tests on a real PostgreSQL server (started for this class, stopped after it).</summary>
[Collection(ClusterCollection.Name)]
public sealed class PostgresCrossNodeTests(PostgresThreeNodeCluster cluster, ITestOutputHelper output)
    : CrossNodeTests(cluster, output), IClassFixture<PostgresThreeNodeCluster>;

/// <summary>A <see cref="ThreeNodeCluster"/> on a PostgreSQL server of its own.</summary>
public sealed class PostgresThreeNodeCluster : ThreeNodeCluster
{
    private PostgresServer? _server;

    protected override async Task<string> CreateStoreAsync()
    {
        _server = await PostgresServer.StartAsync();
        return _server.StoreArgument;
    }

    protected override async ValueTask DisposeStoreAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
