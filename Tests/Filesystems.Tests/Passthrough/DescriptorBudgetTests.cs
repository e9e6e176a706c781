using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>How many descriptors PassthroughFs lets the kernel's nodes and files take: the limit less what the process held
/// at the start, less a reserve of 64 and a sixteenth of the limit for the runtime's threads; never below 16.</summary>
public sealed class DescriptorBudgetTests
{
    [Theory]
    [InlineData(256UL, 100, 76)]       // 256 - 100 - (64 + 16)
    [InlineData(1024UL, 100, 796)]     // a soft limit of 1024: 1024 - 100 - (64 + 64)
    [InlineData(20000UL, 110, 18576)]  // this machine's hard limit: 20000 - 110 - (64 + 1250)
    [InlineData(120UL, 100, 16)]       // a limit that leaves nothing: 16 all the same, so that the root can be served
    public void The_budget_is_the_limit_less_what_is_held_and_the_reserve(ulong limit, int held, int expected)
    {
        var budget = DescriptorBudget.For(limit, held);
        Assert.Equal(expected, budget.Available);
        Assert.Equal(limit, budget.Limit);
        Assert.Equal(held, budget.Baseline);
    }

    [Fact]
    public void This_process_has_a_budget_below_its_limit()
    {
        var budget = DescriptorBudget.ForThisProcess();
        Assert.True(budget.Limit > 0, "getrlimit(RLIMIT_NOFILE) answered");
        Assert.True(budget.Baseline > 3, $"held {budget.Baseline}");
        Assert.True((ulong)budget.Available < budget.Limit);
    }
}
