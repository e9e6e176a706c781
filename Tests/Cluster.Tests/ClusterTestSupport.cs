using System.Text;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using FuseActors.Filesystems.Cluster.Store;
using Microsoft.Data.Sqlite;

namespace FuseActors.Cluster.Tests;

/// <summary>What the cluster filesystem tests share: the serializer binding, an ActorSystem setup on a SQLite file, names.</summary>
internal static class ClusterTestSupport
{
    /// <summary>The cluster filesystem's serializer bound to its messages, as a node configures it.</summary>
    public static readonly Config SerializerBindings = ConfigurationFactory.ParseString("""
        akka.actor.serializers.fuseactors-cluster = "FuseActors.Filesystems.Cluster.Serialization.ClusterFsSerializer, FuseActors.Filesystems.Cluster"
        akka.actor.serialization-bindings {
          "FuseActors.Filesystems.Cluster.Messages.IClusterFsMessage, FuseActors.Filesystems.Cluster" = fuseactors-cluster
        }
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        """);

    /// <summary>A setup for an ActorSystem whose journal and snapshots are in the SQLite file <paramref name="dbPath"/>.</summary>
    public static ActorSystemSetup SqliteSetup(string dbPath)
    {
        var store = ClusterStore.Sqlite(dbPath);
        store.Prepare();
        return store.ToActorSystemSetup(SerializerBindings);
    }

    public static long Count(string dbPath, string sql)
    {
        using var c = new SqliteConnection(ClusterStore.Sqlite(dbPath).ConnectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar());
    }

    public static void DeleteDirectory(string dir)
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public static byte[] N(string name) => Encoding.UTF8.GetBytes(name);
}
