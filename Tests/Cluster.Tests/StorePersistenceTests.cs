using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using FuseActors.Filesystems.Cluster.Store;
using FuseActors.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FuseActors.Cluster.Tests;

/// <summary>A tiny persistent actor: "add:x" persists x and answers "ok:x"; "snap" saves a snapshot; "get" answers the state.</summary>
internal sealed class Recorder : ReceivePersistentActor
{
    private readonly List<string> _items = new();
    private IActorRef? _snapshotRequester;

    public Recorder(string persistenceId)
    {
        PersistenceId = persistenceId;
        Recover<SnapshotOffer>(offer =>
        {
            _items.Clear();
            var s = (string)offer.Snapshot;
            if (s.Length > 0) _items.AddRange(s.Split(','));
        });
        Recover<string>(item => _items.Add(item));
        Command<string>(cmd =>
        {
            if (cmd.StartsWith("add:", StringComparison.Ordinal))
            {
                var item = cmd[4..];
                Persist(item, e =>
                {
                    _items.Add(e);
                    Sender.Tell("ok:" + e);
                });
            }
            else if (cmd == "snap")
            {
                _snapshotRequester = Sender;
                SaveSnapshot(string.Join(',', _items));
            }
            else if (cmd == "get")
            {
                Sender.Tell(_items.ToArray());
            }
        });
        Command<SaveSnapshotSuccess>(_ => _snapshotRequester?.Tell("snapped"));
        Command<SaveSnapshotFailure>(f => _snapshotRequester?.Tell(new Status.Failure(f.Cause)));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId) => Akka.Actor.Props.Create(() => new Recorder(persistenceId));
}

public sealed class StorePersistenceTests : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(60);
    private static readonly Config NodeConfig = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        akka.log-dead-letters = off
        """);

    private readonly string _dir = Directory.CreateTempSubdirectory("fuseactors-store-").FullName;
    private readonly List<ActorSystem> _systems = new();

    private ActorSystem Start(ClusterStore store, string name)
    {
        var system = ActorSystem.Create(name, store.ToActorSystemSetup(NodeConfig));
        lock (_systems) _systems.Add(system);
        return system;
    }

    private static async Task Stop(ActorSystem system)
    {
        await system.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        foreach (var system in _systems)
        {
            try { system.Terminate().Wait(TimeSpan.FromSeconds(30)); } catch (Exception) { }
        }
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Persists 60 events with a snapshot after 25 in one ActorSystem, recovers them in a second one.</summary>
    private async Task PersistThenRecover(ClusterStore store)
    {
        store.Prepare();
        var expected = Enumerable.Range(0, 60).Select(i => $"e{i}").ToArray();

        var first = Start(store, "writer");
        var recorder = first.ActorOf(Recorder.Props("recorder-1"));
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal("ok:" + expected[i], await recorder.Ask<string>("add:" + expected[i], AskTimeout));
            if (i == 24) Assert.Equal("snapped", await recorder.Ask<string>("snap", AskTimeout));
        }
        Assert.Equal(expected, await recorder.Ask<string[]>("get", AskTimeout));
        await Stop(first);

        var second = Start(store, "reader");
        var recovered = second.ActorOf(Recorder.Props("recorder-1"));
        Assert.Equal(expected, await recovered.Ask<string[]>("get", AskTimeout));
        // And it keeps going from where it was.
        Assert.Equal("ok:more", await recovered.Ask<string>("add:more", AskTimeout));
        await Stop(second);
    }

    [Fact]
    public async Task Sqlite_events_and_snapshots_survive_a_new_actor_system()
    {
        var store = ClusterStore.Parse("sqlite:" + Path.Combine(_dir, "sub", "cluster.db"));
        var applied = ClusterStore.SqlitePragmas.Applied;
        await PersistThenRecover(store);
        // Prepare's connection plus the plugin's: the DataOptionsSetup's interceptor (busy_timeout, WAL) is in use.
        Assert.True(ClusterStore.SqlitePragmas.Applied > applied + 1, "the SQLite connection interceptor did not run");

        Assert.True(File.Exists(store.SqlitePath));
        await using var c = new SqliteConnection(store.ConnectionString);
        await c.OpenAsync();
        Assert.Equal("wal", (string?)await Scalar(c, "PRAGMA journal_mode"));
        Assert.Equal(61L, Convert.ToInt64(await Scalar(c, "SELECT COUNT(*) FROM journal WHERE persistence_id = 'recorder-1'")));
        Assert.Equal(1L, Convert.ToInt64(await Scalar(c, "SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'recorder-1'")));
    }

    [Fact]
    public async Task PostgreSql_events_and_snapshots_survive_a_new_actor_system()
    {
        await using var server = await PostgresServer.StartAsync();
        var store = ClusterStore.Parse(server.StoreArgument);
        Assert.Equal(ClusterStoreKind.PostgreSql, store.Kind);
        await PersistThenRecover(store);

        await using var c = new NpgsqlConnection(server.ConnectionString);
        await c.OpenAsync();
        Assert.Equal(61L, Convert.ToInt64(await Scalar(c, "SELECT COUNT(*) FROM journal WHERE persistence_id = 'recorder-1'")));
        Assert.Equal(1L, Convert.ToInt64(await Scalar(c, "SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'recorder-1'")));
        await c.CloseAsync();
        NpgsqlConnection.ClearAllPools();
    }

    [Fact]
    public async Task Two_actor_systems_write_one_sqlite_file_concurrently()
    {
        const int actorsPerSystem = 3;
        const int eventsPerActor = 150;
        var store = ClusterStore.Parse("sqlite:" + Path.Combine(_dir, "shared.db"));
        store.Prepare();
        var nodes = new[] { Start(store, "node-a"), Start(store, "node-b") };

        // Every actor of both systems gets all its commands at once: the two journals write the same file at the same time.
        var work = new List<Task<(string id, string[] items)>>();
        foreach (var node in nodes)
        {
            for (var a = 0; a < actorsPerSystem; a++)
            {
                var id = $"{node.Name}-{a}";
                var actor = node.ActorOf(Recorder.Props(id));
                var acks = Enumerable.Range(0, eventsPerActor).Select(i => actor.Ask<string>($"add:{id}.{i}", AskTimeout)).ToList();
                work.Add(Task.Run(async () =>
                {
                    await Task.WhenAll(acks);
                    return (id, await actor.Ask<string[]>("get", AskTimeout));
                }));
            }
        }
        var results = await Task.WhenAll(work).WaitAsync(TimeSpan.FromMinutes(3));
        foreach (var (id, items) in results)
            Assert.Equal(Enumerable.Range(0, eventsPerActor).Select(i => $"{id}.{i}"), items);
        foreach (var node in nodes) await Stop(node);

        // A third system recovers every actor of both.
        var reader = Start(store, "node-c");
        foreach (var (id, _) in results)
        {
            var items = await reader.ActorOf(Recorder.Props(id)).Ask<string[]>("get", AskTimeout);
            Assert.Equal(Enumerable.Range(0, eventsPerActor).Select(i => $"{id}.{i}"), items);
        }
        await Stop(reader);

        await using var c = new SqliteConnection(store.ConnectionString);
        await c.OpenAsync();
        Assert.Equal((long)(2 * actorsPerSystem * eventsPerActor), Convert.ToInt64(await Scalar(c, "SELECT COUNT(*) FROM journal")));
    }

    [Fact]
    public async Task A_writer_waits_for_another_process_holding_the_sqlite_write_lock()
    {
        var store = ClusterStore.Parse("sqlite:" + Path.Combine(_dir, "locked.db"));
        store.Prepare();
        var node = Start(store, "waiter");
        var actor = node.ActorOf(Recorder.Props("waiter-0"));
        Assert.Equal("ok:first", await actor.Ask<string>("add:first", AskTimeout)); // tables exist

        // Another process (python's sqlite3) takes the write lock and keeps it for 3 s.
        var hold = TimeSpan.FromSeconds(3);
        var psi = new System.Diagnostics.ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import sqlite3,sys,time\n" +
                             "c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=30)\n" +
                             "c.execute('BEGIN IMMEDIATE')\nprint('locked',flush=True)\n" +
                             "time.sleep(float(sys.argv[2]))\nc.execute('COMMIT')\n");
        psi.ArgumentList.Add(store.SqlitePath!);
        psi.ArgumentList.Add(hold.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var locker = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var line = await locker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("locked", line);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var acks = Enumerable.Range(0, 20).Select(i => actor.Ask<string>($"add:w{i}", AskTimeout)).ToList();
            await Task.WhenAll(acks);
            // The writes waited for the lock (instead of failing with SQLITE_BUSY) and then all went through.
            Assert.True(clock.Elapsed > hold - TimeSpan.FromSeconds(1.5), $"writes finished after {clock.Elapsed} while the lock was held");
            await locker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, locker.ExitCode);
        }
        finally
        {
            if (!locker.HasExited) locker.Kill();
        }
        var expected = new[] { "first" }.Concat(Enumerable.Range(0, 20).Select(i => $"w{i}"));
        Assert.Equal(expected, await actor.Ask<string[]>("get", AskTimeout));
        await Stop(node);
    }

    private static async Task<object?> Scalar(System.Data.Common.DbConnection c, string sql)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return await cmd.ExecuteScalarAsync();
    }
}
