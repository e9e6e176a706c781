using Akka.Hosting;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Hosting.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;


namespace FuseActors.Hosting.Tests;

/// <summary>WithFuseFilesystem under Akka.Hosting.TestKit: a MemoryFs served in process (no mount, no root), used
/// through the registry's VfsClient, checked by the health check.</summary>
public sealed class InProcessHostingTests : Akka.Hosting.TestKit.TestKit
{
    public InProcessHostingTests(ITestOutputHelper output) : base(nameof(InProcessHostingTests), output) { }

    protected override void ConfigureServices(HostBuilderContext context, IServiceCollection services) =>
        services.AddHealthChecks().AddFuseMountHealthCheck("mem");

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithFuseFilesystem("mem", MemoryFs.Props());

    [Fact]
    public async Task The_app_uses_its_in_process_filesystem_through_the_registry()
    {
        var fs = await FuseMountRegistry.For(Sys).GetFilesystemAsync("mem").WaitAsync(TimeSpan.FromSeconds(10));
        await fs.Files.CreateDirectoryAsync("/docs");
        await fs.Files.WriteAllTextAsync("/docs/a.txt", "hello");
        Assert.Equal("hello", await fs.Files.ReadAllTextAsync("/docs/a.txt"));
        var names = (await fs.Files.ListDirectoryAsync("/docs")).Select(e => e.Name.ToString()).ToList();
        Assert.Contains("a.txt", names);
        Assert.Same(fs.Mount, await FuseMountRegistry.For(Sys).GetAsync("mem"));
    }

    [Fact]
    public async Task The_health_check_reports_it_healthy_with_its_state()
    {
        await FuseMountRegistry.For(Sys).GetFilesystemAsync("mem").WaitAsync(TimeSpan.FromSeconds(10));
        var report = await Host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var entry = report.Entries["fuse-mount:mem"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal("Mounted", entry.Data["state"]);
        Assert.Equal("(in process)", entry.Data["mountpoint"]);
    }

    [Fact]
    public async Task An_unknown_name_is_unhealthy_and_the_defaults_are_in_the_system_config()
    {
        var result = await new FuseMountHealthCheck(Sys, "nope").CheckHealthAsync(null!);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        // The embedded defaults are behind the application's config, and the unmount phase's timeout is grace + margin.
        Assert.Equal(64, Sys.Settings.Config.GetInt("fuseactors.connection.max-in-flight"));
        Assert.Equal(TimeSpan.FromSeconds(5) + FuseHostingExtensions.ShutdownMargin,
            Sys.Settings.Config.GetTimeSpan($"akka.coordinated-shutdown.phases.{FuseHostingExtensions.UnmountPhase}.timeout"));
    }
}
