using FuseActors.Integration.Tests.Support;
using Xunit.Abstractions;

namespace FuseActors.Integration.Tests.Cluster;

/// <summary>
/// A node killed with SIGKILL while the others write, a lock holder killed, and a full stop and start of the cluster:
/// nothing acknowledged is lost, a dead node's mount fails fast, its locks are released. One cluster (SQLite) for the
/// class; each test first brings it back to three running nodes, so they do not depend on their order.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FailureTests(ThreeNodeCluster cluster, ITestOutputHelper output)
    : ClusterTestBase(cluster, output), IClassFixture<ThreeNodeCluster>
{
    /// <summary>Writes numbered files (WRITE / fsync / close) until a stop file appears, printing each name once all
    /// three returned (acknowledged); a failed attempt goes to stderr and is retried. `verify` checks acknowledged
    /// files byte for byte. Every tenth file is 1.2 MB (two chunks).</summary>
    private const string Writer = """
        import hashlib, os, sys, time
        def content(name):
            i = int(name.split("-")[1])
            size = 1_200_000 if i % 10 == 0 else 1000 + (i * 7919) % 100_000
            block = hashlib.sha256(name.encode()).digest()
            return (block * (size // 32 + 1))[:size]
        if sys.argv[1] == "write":
            directory, prefix, stop = sys.argv[2:5]
            i = 0
            while not os.path.exists(stop):
                name = f"{prefix}-{i:05d}"
                data = content(name)
                try:
                    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view):]
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                except OSError as e:
                    print(f"{time.strftime('%H:%M:%S')} {name}: {e}", file=sys.stderr, flush=True)
                    time.sleep(0.2)
                    continue
                print(name, flush=True)
                i += 1
        else:
            directory = sys.argv[2]
            names = [l.strip() for f in sys.argv[3:] for l in open(f) if l.strip()]
            bad = []
            for name in names:
                try:
                    with open(os.path.join(directory, name), "rb") as f:
                        if f.read() != content(name):
                            bad.append(name + " differs")
                except OSError as e:
                    bad.append(f"{name}: {e}")
            print(f"checked {len(names)}, bad {len(bad)}: {bad[:20]}")
        """;

    private static int Lines(string file) => File.Exists(file) ? File.ReadAllLines(file).Count(l => l.Length > 0) : 0;

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"not within {within.TotalSeconds} s: {what}");
            await Task.Delay(200);
        }
    }

    /// <summary>A killed node's mount answers at once, with ENOTCONN; it does not hang.</summary>
    private static async Task AssertDeadMountAsync(ClusterNodeProcess node)
    {
        var r = await Shell.RunAsync($"timeout 10 stat {node.Path}", timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 1 && r.Stderr.Contains("Transport endpoint is not connected"),
            $"stat of the killed node's mountpoint: {r}");
    }

    [Fact]
    public Task Writers_on_A_and_B_lose_no_acknowledged_file_when_C_is_killed_and_C_comes_back_with_all_of_them() =>
        WritersSurviveAKill(victim: 2, writers: (0, 1));

    /// <summary>A is the first node: it holds the namespace entity and the sharding coordinator. Both move to a
    /// survivor, the namespace recovers from the journal, and the nodes re-subscribe; the writers go on.</summary>
    [Fact]
    public Task Writers_on_B_and_C_lose_no_acknowledged_file_when_A_holding_the_namespace_is_killed() =>
        WritersSurviveAKill(victim: 0, writers: (1, 2));

    private Task WritersSurviveAKill(int victim, (int First, int Second) writers) => Logged(async () =>
    {
        await Cluster.EnsureAllRunningAsync();
        Step("three nodes running");
        var d = await NewDirectoryAsync("writers");
        var host = Directory.CreateTempSubdirectory("fuseactors-writers-").FullName;
        ClusterNodeProcess[] Nodes() => [Cluster.A, Cluster.B, Cluster.C];
        var (a, b) = (Nodes()[writers.First], Nodes()[writers.Second]);
        Task<Shell.Result>? writerA = null, writerB = null;
        try
        {
            await File.WriteAllTextAsync($"{host}/writer.py", Writer);
            string Write(ClusterNodeProcess n, string prefix) =>
                $"python3 {host}/writer.py write {n[d]} {prefix} {host}/stop > {host}/acks-{prefix} 2> {host}/errors-{prefix}";
            writerA = Shell.RunAsync(Write(a, "a"), timeout: TimeSpan.FromSeconds(240));
            writerB = Shell.RunAsync(Write(b, "b"), timeout: TimeSpan.FromSeconds(240));
            await WaitForAsync(() => Lines($"{host}/acks-a") >= 10 && Lines($"{host}/acks-b") >= 10, TimeSpan.FromSeconds(60),
                "both writers acknowledged 10 files");
            Step("writers running");

            var c = Nodes()[victim];
            Cluster.Kill9(c);
            Step($"killed {c.Name}: {Lines($"{host}/acks-a")} + {Lines($"{host}/acks-b")} acknowledged");
            await AssertDeadMountAsync(c);

            // The survivors down C (split-brain resolver, after the membership is stable), sharding moves its entities,
            // and the writers go on: more acknowledged files after C is removed.
            await WaitForAsync(() => a.Log.Contains($"Member removed [akka.tcp://fuseactors@{c.Address}]"), TimeSpan.FromSeconds(90),
                $"{a.Name} removed {c.Name} from the cluster");
            var (atRemovalA, atRemovalB) = (Lines($"{host}/acks-a"), Lines($"{host}/acks-b"));
            Step($"{c.Name} removed: {atRemovalA} + {atRemovalB} acknowledged");
            await WaitForAsync(() => Lines($"{host}/acks-a") >= atRemovalA + 10 && Lines($"{host}/acks-b") >= atRemovalB + 10,
                TimeSpan.FromSeconds(90), $"both writers acknowledged 10 more files after {c.Name} was removed");
            File.WriteAllText($"{host}/stop", "");
            var (ra, rb) = (await writerA, await writerB);
            Assert.True(ra.ExitCode == 0 && rb.ExitCode == 0, $"writers: A {ra}, B {rb}");
            Step($"writers done: {Lines($"{host}/acks-a")} + {Lines($"{host}/acks-b")} acknowledged");

            var total = Lines($"{host}/acks-a") + Lines($"{host}/acks-b");
            var verify = $"python3 {host}/writer.py verify {{0}} {host}/acks-a {host}/acks-b";
            foreach (var n in new[] { a, b })
                Assert.Equal($"checked {total}, bad 0: []\n", await Shell.OkAsync(string.Format(verify, n[d]), timeout: TimeSpan.FromSeconds(120)));

            // The killed node comes back (seeded with the survivors), mounts again and sees every file.
            Step($"all acknowledged files checked on {a.Name} and {b.Name}");
            var c2 = await Cluster.RestartAsync(c);
            Step($"{c.Name} restarted");
            Assert.Equal($"checked {total}, bad 0: []\n", await Shell.OkAsync(string.Format(verify, c2[d]), timeout: TimeSpan.FromSeconds(120)));
        }
        finally
        {
            File.WriteAllText($"{host}/stop", "");
            foreach (var w in new[] { writerA, writerB })
                if (w is not null) try { await w; } catch (TimeoutException) { }
            foreach (var p in new[] { "a", "b" })
                if (File.Exists($"{host}/errors-{p}"))
                    Output.WriteLine($"writer {p} errors (failed attempts, retried):\n{File.ReadAllText($"{host}/errors-{p}")}");
            Directory.Delete(host, recursive: true);
        }
    });

    [Fact]
    public Task A_lock_held_on_C_is_released_when_C_is_killed() => Logged(async () =>
    {
        await Cluster.EnsureAllRunningAsync();
        Step("three nodes running");
        var d = await NewDirectoryAsync("deadlock");
        var host = Directory.CreateTempSubdirectory("fuseactors-deadlock-").FullName;
        var c = Cluster.C;
        Task<Shell.Result>? holder = null;
        try
        {
            await Shell.OkAsync("touch lock", Cluster.A[d]);
            await EventuallyOkAsync("test -f lock", c[d]);
            holder = Shell.RunAsync($"exec flock -x {c[d]}/lock sh -c 'echo $$ > {host}/sleeper; exec sleep 300'",
                timeout: TimeSpan.FromSeconds(200));
            await WaitForAsync(() => Lines($"{host}/sleeper") == 1, TimeSpan.FromSeconds(20), "C holds the lock");
            var tryLock = await Shell.RunAsync($"flock -n {Cluster.A[d]}/lock true");
            Assert.True(tryLock.ExitCode == 1, $"flock -n on A while C holds the lock: {tryLock}");

            Cluster.Kill9(c);
            Step("killed C");
            await Shell.OkAsync($"flock -w 60 {Cluster.A[d]}/lock true", timeout: TimeSpan.FromSeconds(90));
            Step("A got the lock");
            await Shell.OkAsync($"flock -n {Cluster.B[d]}/lock true");
        }
        finally
        {
            // The holder's sleep keeps its descriptor on C's dead mount; end it (its pid is in the file).
            if (File.Exists($"{host}/sleeper") && int.TryParse(File.ReadAllText($"{host}/sleeper").Trim(), out var pid))
                Tmds.Linux.LibC.kill(pid, Tmds.Linux.LibC.SIGKILL);
            if (holder is not null) try { await holder; } catch (TimeoutException) { }
            Directory.Delete(host, recursive: true);
        }
        await Cluster.RestartAsync(c);
        Step("C restarted");
    });

    [Fact]
    public Task All_three_nodes_stopped_and_started_again_find_every_file_as_it_was() => Logged(async () =>
    {
        await Cluster.EnsureAllRunningAsync();
        Step("three nodes running");
        var d = await NewDirectoryAsync("restart");
        await Shell.OkAsync("""
            mkdir -p tree/a/b && echo made on A > tree/a/b/f && head -c 2500000 /dev/urandom | dd of=big bs=1M iflag=fullblock status=none && ln big big-link
            ln -s tree/a/b/f sym && chmod 600 tree/a/b/f && python3 -c 'import os; os.setxattr("big", "user.k", b"v")'
            """, Cluster.A[d]);
        await EventuallyOkAsync("test -d tree", Cluster.B[d]);
        await Shell.OkAsync("echo made on B > from-b && for i in $(seq 1 50); do echo $i > tree/n$i; done", Cluster.B[d]);
        await EventuallyOkAsync("test -f from-b", Cluster.C[d]);
        await Shell.OkAsync("printf 'made on C' > from-c && echo appended on C >> from-b && rm tree/n7", Cluster.C[d]);

        const string manifest = """
            find . -mindepth 1 -printf '%p %y %m %n %l\n' | sort
            find . -type f -print0 | sort -z | xargs -0 sha256sum
            python3 -c 'import os; print(os.getxattr("big", "user.k"))'
            """;
        var before = await Shell.OkAsync(manifest, Cluster.A[d]);
        Assert.Contains("./tree/n50 f 644 1", before);
        Assert.DoesNotContain("./tree/n7 ", before);
        foreach (var n in new[] { Cluster.B, Cluster.C })
            await EventuallyOutputAsync(before, manifest, n[d]);
        var root = await Shell.OkAsync("ls -1", Cluster.A.Path);
        Step("written; all nodes agree");

        var oldPaths = Cluster.Nodes.Select(n => n.Path).ToList();
        var codes = await Cluster.StopAllAsync();
        Step("stopped");
        Assert.Equal("A=0 B=0 C=0", string.Join(' ', codes.OrderBy(x => x.Key).Select(x => $"{x.Key}={x.Value}")));
        var mounts = File.ReadAllText("/proc/mounts");
        Assert.DoesNotContain(oldPaths, mounts.Contains);

        await Cluster.StartAllAsync();
        Step("started");
        foreach (var n in Cluster.Nodes)
            Assert.Equal(before, await Shell.OkAsync(manifest, n[d]));
        Assert.Equal(root, await Shell.OkAsync("ls -1", Cluster.A.Path));
    });
}
