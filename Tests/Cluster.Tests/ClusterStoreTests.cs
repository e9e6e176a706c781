using Akka.Configuration;
using FuseActors.Filesystems.Cluster.Store;
using Npgsql;

namespace FuseActors.Cluster.Tests;

public class ClusterStoreTests
{
    [Fact]
    public void Parses_a_sqlite_path()
    {
        var store = ClusterStore.Parse("sqlite:/var/tmp/x/cluster.db");
        Assert.Equal(ClusterStoreKind.Sqlite, store.Kind);
        Assert.Equal("/var/tmp/x/cluster.db", store.SqlitePath);
        Assert.Contains("Data Source=/var/tmp/x/cluster.db", store.ConnectionString);
        Assert.Contains("Default Timeout=", store.ConnectionString);
        Assert.Equal("SQLite.MS", store.ProviderName);
        Assert.Equal("sqlite:/var/tmp/x/cluster.db", store.Describe());
    }

    [Fact]
    public void A_relative_sqlite_path_is_made_absolute()
    {
        var store = ClusterStore.Parse("sqlite:rel/cluster.db");
        Assert.Equal(Path.GetFullPath("rel/cluster.db"), store.SqlitePath);
    }

    [Fact]
    public void Parses_a_postgresql_connection_string_and_bounds_the_pool()
    {
        var store = ClusterStore.Parse("postgresql:Host=127.0.0.1;Port=5433;Username=postgres;Password=secret;Database=fuseactors");
        Assert.Equal(ClusterStoreKind.PostgreSql, store.Kind);
        Assert.Equal("PostgreSQL.15", store.ProviderName);
        var b = new NpgsqlConnectionStringBuilder(store.ConnectionString);
        Assert.Equal("127.0.0.1", b.Host);
        Assert.Equal(5433, b.Port);
        Assert.Equal("fuseactors", b.Database);
        Assert.Equal("secret", b.Password);
        Assert.Equal(ClusterStore.DefaultPostgreSqlMaxPoolSize, b.MaxPoolSize);
        Assert.Null(store.SqlitePath);
        var described = store.Describe();
        Assert.StartsWith("postgresql:", described);
        Assert.Contains("Port=5433", described);
        Assert.DoesNotContain("secret", described);
        Assert.DoesNotContain("Password", described, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("Maximum Pool Size=7")]
    [InlineData("maxpoolsize=7")]
    public void An_explicit_pool_size_is_kept(string pool)
    {
        var store = ClusterStore.Parse($"postgresql:Host=db;Database=f;{pool}");
        Assert.Equal(7, new NpgsqlConnectionStringBuilder(store.ConnectionString).MaxPoolSize);
    }

    [Theory]
    [InlineData("")]
    [InlineData("cluster.db")]
    [InlineData("mysql:Server=x")]
    [InlineData("sqlite:")]
    [InlineData("sqlite:Data Source=x.db")]
    [InlineData("sqlite::memory:")]
    [InlineData("postgresql:")]
    [InlineData("postgresql:Database=f")]
    [InlineData("postgresql:NoSuchKey=1;Host=x")]
    public void Rejects_anything_else_naming_both_forms(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterStore.Parse(value));
        Assert.Contains("sqlite:", e.Message);
        Assert.Contains("postgresql:", e.Message);
    }

    [Fact]
    public void The_error_does_not_echo_a_password()
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterStore.Parse("postgresql:Password=hunter2;NoSuchKey=1"));
        Assert.DoesNotContain("hunter2", e.Message);
    }

    [Fact]
    public void Default_is_a_sqlite_file_under_the_user_data_directory()
    {
        var store = ClusterStore.Default;
        Assert.Equal(ClusterStoreKind.Sqlite, store.Kind);
        var data = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (string.IsNullOrEmpty(data))
            data = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        Assert.Equal(Path.Combine(data, "fuseactors", "cluster.db"), store.SqlitePath);
        Assert.EndsWith(Path.Combine("fuseactors", "cluster.db"), ClusterStore.DefaultSqlitePath());
    }

    [Theory]
    [InlineData("sqlite:/tmp/a \"quoted\" dir/c.db", "SQLite.MS")]
    [InlineData("postgresql:Host=127.0.0.1;Port=5433;Username=postgres;Database=fuseactors", "PostgreSQL.15")]
    public void The_config_selects_the_sql_plugins(string value, string provider)
    {
        var store = ClusterStore.Parse(value);
        var config = store.ToConfig();
        Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal("akka.persistence.snapshot-store.sql", config.GetString("akka.persistence.snapshot-store.plugin"));
        foreach (var plugin in new[] { "akka.persistence.journal.sql", "akka.persistence.snapshot-store.sql", "akka.persistence.query.journal.sql" })
        {
            Assert.Equal(store.ConnectionString, config.GetString(plugin + ".connection-string"));
            Assert.Equal(provider, config.GetString(plugin + ".provider-name"));
        }
        Assert.True(config.GetBoolean("akka.persistence.journal.sql.auto-initialize"));
        Assert.True(config.GetBoolean("akka.persistence.snapshot-store.sql.auto-initialize"));
        Assert.Equal(100, config.GetInt("akka.persistence.journal.sql.batch-size"));
        Assert.StartsWith("Akka.Persistence.Sql.Journal.SqlWriteJournal", config.GetString("akka.persistence.journal.sql.class"));
        Assert.StartsWith("Akka.Persistence.Sql.Snapshot.SqlSnapshotStore", config.GetString("akka.persistence.snapshot-store.sql.class"));
    }

    [Fact]
    public void The_setup_lets_a_node_tune_but_not_redirect_the_store()
    {
        var store = ClusterStore.Parse("sqlite:/tmp/x/c.db");
        var node = ConfigurationFactory.ParseString("""
            akka.persistence.journal.sql.batch-size = 400
            akka.persistence.journal.sql.connection-string = "Data Source=/elsewhere.db"
            akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
            """);
        var setup = store.ToActorSystemSetup(node);
        var bootstrap = setup.Get<Akka.Actor.BootstrapSetup>();
        Assert.True(bootstrap.HasValue);
        var config = bootstrap.Value.Config.Value;
        Assert.Equal(400, config.GetInt("akka.persistence.journal.sql.batch-size"));
        Assert.Equal(store.ConnectionString, config.GetString("akka.persistence.journal.sql.connection-string"));
        Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
        Assert.True(setup.Get<Akka.Persistence.Sql.Config.DataOptionsSetup>().HasValue);
    }
}
