using System.Data.Common;
using System.Text;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using LinqToDB;
using LinqToDB.Interceptors;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FuseActors.Filesystems.Cluster.Store;

/// <summary>The database kind behind a <see cref="ClusterStore"/>.</summary>
public enum ClusterStoreKind
{
    Sqlite,
    PostgreSql,
}

/// <summary>
/// Where the cluster filesystem's journal and snapshots live (the CLI's <c>--store</c> value):
/// <c>sqlite:/path/to/file.db</c> or <c>postgresql:Host=...;Port=...;Username=...;Database=...</c>.
/// The events and snapshots go through Akka.Persistence.Sql (linq2db) into that database.
/// </summary>
/// <remarks>
/// How a node uses it:
/// <code>
/// var store = ClusterStore.Parse(value);   // or ClusterStore.Default
/// store.Prepare();                          // sqlite: directory + WAL; postgresql: reachability
/// var system = ActorSystem.Create(name, store.ToActorSystemSetup(config));
/// </code>
/// Callers MUST create the ActorSystem through <see cref="ToActorSystemSetup"/>, not with
/// <c>ActorSystem.Create(name, store.ToConfig().WithFallback(config))</c>: for SQLite the setup carries a linq2db
/// <see cref="DataOptions"/> (Akka.Persistence.Sql's <see cref="DataOptionsSetup"/>) whose connection interceptor sets
/// <c>PRAGMA busy_timeout</c> and <c>journal_mode=WAL</c> on every connection, which is what lets several node processes
/// share one SQLite file. (The config alone still works for a single process, and Microsoft.Data.Sqlite's own retry
/// on SQLITE_BUSY up to "Default Timeout" remains as a second line; but the setup is the supported way.)
/// </remarks>
public sealed class ClusterStore
{
    public const string SqlitePrefix = "sqlite:";
    public const string PostgreSqlPrefix = "postgresql:";

    /// <summary>linq2db provider name for Microsoft.Data.Sqlite (LinqToDB.ProviderName.SQLiteMS in linq2db 6.5.1).</summary>
    public const string SqliteProviderName = LinqToDB.ProviderName.SQLiteMS; // "SQLite.MS"

    /// <summary>linq2db provider name for Npgsql on PostgreSQL 15 or later (LinqToDB.ProviderName.PostgreSQL15 = "PostgreSQL.15").</summary>
    public const string PostgreSqlProviderName = LinqToDB.ProviderName.PostgreSQL15; // "PostgreSQL.15"

    /// <summary>Seconds a SQLite statement waits for another writer's lock before failing with SQLITE_BUSY.</summary>
    public const int SqliteBusyTimeoutSeconds = 60;

    /// <summary>Connection pool bound per node for PostgreSQL (added when the connection string has none): a few nodes
    /// stay well under the server's max_connections (100 by default).</summary>
    public const int DefaultPostgreSqlMaxPoolSize = 20;

    private static readonly string[] PoolSizeKeys = ["maximum pool size", "max pool size", "maxpoolsize", "maximumpoolsize"];

    private ClusterStore(ClusterStoreKind kind, string connectionString, string? sqlitePath)
    {
        Kind = kind;
        ConnectionString = connectionString;
        SqlitePath = sqlitePath;
    }

    public ClusterStoreKind Kind { get; }

    /// <summary>The ADO.NET connection string handed to linq2db (normalised: SQLite gets Mode, Pooling and Default Timeout;
    /// PostgreSQL gets a Maximum Pool Size when absent).</summary>
    public string ConnectionString { get; }

    /// <summary>The database file for SQLite; null for PostgreSQL.</summary>
    public string? SqlitePath { get; }

    /// <summary>The linq2db provider name written into the HOCON.</summary>
    public string ProviderName => Kind == ClusterStoreKind.Sqlite ? SqliteProviderName : PostgreSqlProviderName;

    /// <summary>sqlite: <c>fuseactors/cluster.db</c> under the user's data directory (LocalApplicationData, else ~/.local/share).</summary>
    public static ClusterStore Default => Sqlite(DefaultSqlitePath());

    public static string DefaultSqlitePath()
    {
        var data = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (string.IsNullOrEmpty(data))
        {
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(home)) home = Environment.GetEnvironmentVariable("HOME") ?? "/";
            data = Path.Combine(home, ".local", "share");
        }
        return Path.Combine(data, "fuseactors", "cluster.db");
    }

    /// <summary>Parses a <c>--store</c> value. Throws <see cref="ArgumentException"/> for anything else.</summary>
    public static ClusterStore Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var v = value.Trim();
        if (v.StartsWith(SqlitePrefix, StringComparison.OrdinalIgnoreCase))
        {
            var path = v[SqlitePrefix.Length..].Trim();
            if (path.Length == 0) throw Bad(value, "the sqlite: form needs a file path");
            if (path.Contains(';') || path.Contains('=')) throw Bad(value, "the sqlite: form takes a file path, not a connection string");
            if (path == ":memory:") throw Bad(value, "an in-memory SQLite database cannot be shared by nodes; give a file path");
            return Sqlite(path);
        }
        if (v.StartsWith(PostgreSqlPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var cs = v[PostgreSqlPrefix.Length..].Trim();
            if (cs.Length == 0) throw Bad(value, "the postgresql: form needs an Npgsql connection string");
            return PostgreSql(cs, value);
        }
        throw Bad(value, "unknown store kind");
    }

    private static ArgumentException Bad(string value, string why) => new(
        $"Invalid --store value '{Redact(value)}': {why}. Expected 'sqlite:/path/to/file.db' or " +
        "'postgresql:Host=127.0.0.1;Port=5432;Username=postgres;Database=fuseactors' (an Npgsql connection string).",
        nameof(value));

    private static string Redact(string value)
    {
        var i = value.IndexOf("password", StringComparison.OrdinalIgnoreCase);
        return i < 0 ? value : value[..i] + "Password=***";
    }

    /// <summary>A SQLite store on the given file (relative paths are made absolute against the current directory).</summary>
    public static ClusterStore Sqlite(string path)
    {
        var full = Path.GetFullPath(path);
        var b = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Each node process has its own connections; "Shared" cache only applies inside one process and would
            // turn busy waits into SQLITE_LOCKED table locks, so keep the default private cache.
            Cache = SqliteCacheMode.Default,
            Pooling = true,
            // Microsoft.Data.Sqlite retries a statement that hits SQLITE_BUSY/SQLITE_LOCKED until this many seconds
            // have passed (also for the implicit BEGIN IMMEDIATE of a transaction): concurrent writers wait.
            DefaultTimeout = SqliteBusyTimeoutSeconds,
        };
        return new ClusterStore(ClusterStoreKind.Sqlite, b.ToString(), full);
    }

    private static ClusterStore PostgreSql(string connectionString, string original)
    {
        NpgsqlConnectionStringBuilder b;
        try
        {
            b = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw Bad(original, "the connection string does not parse: " + e.Message);
        }
        if (string.IsNullOrWhiteSpace(b.Host)) throw Bad(original, "the connection string has no Host");
        if (!HasKey(connectionString, PoolSizeKeys)) b.MaxPoolSize = DefaultPostgreSqlMaxPoolSize;
        return new ClusterStore(ClusterStoreKind.PostgreSql, b.ConnectionString, null);
    }

    private static bool HasKey(string connectionString, string[] keys)
    {
        var raw = new DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (string k in raw.Keys)
            if (keys.Contains(k.Trim().ToLowerInvariant())) return true;
        return false;
    }

    /// <summary>For logs: the kind and where, never the password.</summary>
    public string Describe()
    {
        if (Kind == ClusterStoreKind.Sqlite) return $"sqlite:{SqlitePath}";
        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        var sb = new StringBuilder("postgresql:");
        sb.Append($"Host={b.Host};Port={b.Port}");
        if (!string.IsNullOrEmpty(b.Username)) sb.Append($";Username={b.Username}");
        if (!string.IsNullOrEmpty(b.Database)) sb.Append($";Database={b.Database}");
        sb.Append($";Maximum Pool Size={b.MaxPoolSize}");
        return sb.ToString();
    }

    public override string ToString() => Describe();

    /// <summary>
    /// Gets the database ready before the ActorSystem starts. SQLite: creates the directory and switches the file to
    /// WAL (persistent in the file: readers never block the writer, and one writer at a time commits). PostgreSQL:
    /// checks that the server answers (10 s), throwing <see cref="InvalidOperationException"/> with a clear message if not.
    /// </summary>
    public void Prepare()
    {
        if (Kind == ClusterStoreKind.Sqlite)
        {
            var dir = Path.GetDirectoryName(SqlitePath);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            using var c = new SqliteConnection(ConnectionString);
            c.Open();
            SqlitePragmas.Apply(c);
            return;
        }
        var b = new NpgsqlConnectionStringBuilder(ConnectionString) { Timeout = 10, Pooling = false };
        try
        {
            using var c = new NpgsqlConnection(b.ConnectionString);
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT 1";
            cmd.CommandTimeout = 10;
            cmd.ExecuteScalar();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new InvalidOperationException($"The cluster store {Describe()} is not reachable: {e.Message}", e);
        }
    }

    /// <summary>
    /// The akka.persistence HOCON: the SQL journal and snapshot store (and the SQL read journal) on this database,
    /// tables created on start, over the plugin's reference config. Use <see cref="ToActorSystemSetup"/> to create the ActorSystem.
    /// </summary>
    public Config ToConfig() => ConnectionConfig().WithFallback(TuningConfig()).WithFallback(SqlPersistence.DefaultConfiguration);

    /// <summary>
    /// The setup to create the node's ActorSystem with: <c>ActorSystem.Create(name, store.ToActorSystemSetup(config))</c>.
    /// The store's plugin ids, connection string and provider override <paramref name="config"/>; the tuning values
    /// (batch sizes, parallelism, ...) are only defaults under it, so a node's config may change them. For SQLite it also
    /// carries a <see cref="DataOptionsSetup"/> whose connection interceptor sets busy_timeout and WAL on each connection.
    /// </summary>
    public ActorSystemSetup ToActorSystemSetup(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        // The plugin's own reference config (plugin classes, table mappings) is the last fallback: the journal actor is
        // created from akka.persistence.journal.sql.class before anything would inject it.
        var merged = ConnectionConfig().WithFallback(config).WithFallback(TuningConfig())
            .WithFallback(SqlPersistence.DefaultConfiguration);
        var bootstrap = BootstrapSetup.Create().WithConfig(merged);
        if (Kind != ClusterStoreKind.Sqlite) return ActorSystemSetup.Create(bootstrap);
        var options = new DataOptions()
            .UseConnectionString(ProviderName, ConnectionString)
            .UseInterceptor(new SqlitePragmas());
        return ActorSystemSetup.Create(bootstrap, new DataOptionsSetup(options));
    }

    /// <summary>The keys that must be the store's: plugin ids, connection string, provider.</summary>
    private Config ConnectionConfig()
    {
        var cs = Quote(ConnectionString);
        var provider = Quote(ProviderName);
        return ConfigurationFactory.ParseString($$"""
            akka.persistence {
              journal {
                plugin = "akka.persistence.journal.sql"
                sql {
                  connection-string = {{cs}}
                  provider-name = {{provider}}
                }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql {
                  connection-string = {{cs}}
                  provider-name = {{provider}}
                }
              }
              query.journal.sql {
                connection-string = {{cs}}
                provider-name = {{provider}}
              }
            }
            """);
    }

    /// <summary>Settings a node's config may override.</summary>
    private Config TuningConfig()
    {
        // Batching: Akka.Persistence.Sql's journal queues writes (buffer-size) and a writer takes up to batch-size
        // events from the queue into one database transaction, so many entities persisting at once cost one commit
        // (one fsync) rather than one each. We keep batch-size = 100 (the plugin's default, the tested latency sweet spot)
        // and db-round-trip-max-batch-size = 1000 (rows per INSERT round trip, so a large AtomicWrite is not split into
        // many round trips). parallelism is the number of concurrent write transactions per node: SQLite serialises
        // writers on the file lock anyway, so one writer per node (bigger batches, less lock contention with the other
        // nodes); PostgreSQL keeps the plugin's 3, well inside the bounded pool.
        var parallelism = Kind == ClusterStoreKind.Sqlite ? 1 : 3;
        return ConfigurationFactory.ParseString($$"""
            akka.persistence {
              journal.sql {
                auto-initialize = on
                table-mapping = default
                tag-write-mode = TagTable
                buffer-size = 5000
                batch-size = 100
                db-round-trip-max-batch-size = 1000
                replay-batch-size = 1000
                parallelism = {{parallelism}}
                # Retry creating the tables after this delay when the database is briefly unavailable at start.
                initialization-retry-delay = 1s
              }
              snapshot-store.sql {
                auto-initialize = on
                table-mapping = default
              }
              query.journal.sql {
                table-mapping = default
              }
            }
            """);
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var ch in s)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default: sb.Append(ch); break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>
    /// Sets, on every SQLite connection linq2db opens: busy_timeout (the native busy handler, so a writer waits for
    /// another process's write lock instead of failing with SQLITE_BUSY) and journal_mode=WAL (readers do not block the
    /// writer; persistent in the file, so after the first connection this is a no-op).
    /// </summary>
    internal sealed class SqlitePragmas : IConnectionInterceptor
    {
        private static long _applied;

        /// <summary>How many connections the pragmas were applied to (tests check the interceptor is in use).</summary>
        internal static long Applied => Interlocked.Read(ref _applied);

        internal static void Apply(DbConnection connection)
        {
            Interlocked.Increment(ref _applied);
            using var cmd = connection.CreateCommand();
            cmd.CommandText = $"PRAGMA busy_timeout = {SqliteBusyTimeoutSeconds * 1000}; PRAGMA journal_mode = WAL;";
            cmd.ExecuteNonQuery();
        }

        private static async Task ApplyAsync(DbConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _applied);
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = $"PRAGMA busy_timeout = {SqliteBusyTimeoutSeconds * 1000}; PRAGMA journal_mode = WAL;";
            await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        public void ConnectionOpening(ConnectionEventData eventData, DbConnection connection) { }

        public Task ConnectionOpeningAsync(ConnectionEventData eventData, DbConnection connection, CancellationToken cancellationToken)
            => Task.CompletedTask;

        public void ConnectionOpened(ConnectionEventData eventData, DbConnection connection) => Apply(connection);

        public Task ConnectionOpenedAsync(ConnectionEventData eventData, DbConnection connection, CancellationToken cancellationToken)
            => ApplyAsync(connection, cancellationToken);
    }
}
