using FuseActors.Filesystems.Cluster.Store;
using Xunit;
using Xunit.Abstractions;
using static FuseActors.Cluster.Tests.ClusterTestSupport;

namespace FuseActors.Cluster.Tests;

/// <summary>A node's start-up warm-up goes through the store for real (a recovery, a write, a delete) and leaves
/// nothing behind but the one row the journal keeps for its sequence number; it can run again on every start.</summary>
public sealed class StoreWarmUpTests(ITestOutputHelper output) : SqliteJournalTestKit("warmup", output)
{
    private long Rows(string where) => Count(Db, $"SELECT COUNT(*) FROM journal WHERE persistence_id = 'warmup-node1' {where}");

    [Fact]
    public async Task The_warm_up_writes_to_the_store_and_deletes_what_it_wrote_each_time_it_runs()
    {
        Assert.True(await StoreWarmUp.RunAsync(Sys, "node1", TimeSpan.FromSeconds(30)));
        Assert.Equal(1, Rows(""));
        Assert.Equal(0, Rows("AND deleted = 0"));

        Assert.True(await StoreWarmUp.RunAsync(Sys, "node1", TimeSpan.FromSeconds(30)));
        Assert.Equal(0, Rows("AND deleted = 0"));
        Assert.True(Rows("") <= 2, "rows of the warm-up id: " + Rows(""));
        Assert.Equal(2, Count(Db, "SELECT MAX(sequence_number) FROM journal WHERE persistence_id = 'warmup-node1'"));
    }

    [Fact]
    public void Every_message_type_goes_through_the_serializer_warm_up()
    {
        Assert.Equal(0, StoreWarmUp.WarmSerializer(Sys, Sys.Log));
    }
}
