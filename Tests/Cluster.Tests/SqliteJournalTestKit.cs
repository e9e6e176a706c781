using Akka.Actor;
using Xunit.Abstractions;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>A TestKit whose ActorSystem journals to a SQLite file of its own (<see cref="Db"/>), and that can start
/// further ActorSystems on the same file (<see cref="OtherSystem"/>) to show what a restarted node recovers. Every
/// system is terminated and the directory deleted on dispose.</summary>
public abstract class SqliteJournalTestKit : Akka.TestKit.Xunit2.TestKit
{
    private readonly string _dir;
    private readonly string _name;
    private readonly List<ActorSystem> _others = new();

    protected SqliteJournalTestKit(string name, ITestOutputHelper output)
        : this(Directory.CreateTempSubdirectory($"fuseactors-{name}-").FullName, name, output) { }

    private SqliteJournalTestKit(string dir, string name, ITestOutputHelper output)
        : base(SqliteSetup(Path.Combine(dir, name + ".db")), name, output)
    {
        _dir = dir;
        _name = name;
        Db = Path.Combine(dir, name + ".db");
    }

    /// <summary>The SQLite file every system of this test journals to.</summary>
    protected string Db { get; }

    protected ActorSystem OtherSystem()
    {
        var system = ActorSystem.Create(_name + "-other", SqliteSetup(Db));
        _others.Add(system);
        return system;
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var s in _others)
        {
            try { s.Terminate().Wait(TimeSpan.FromSeconds(30)); } catch (Exception) { }
        }
        base.Dispose(disposing);
        DeleteDirectory(_dir);
    }
}
