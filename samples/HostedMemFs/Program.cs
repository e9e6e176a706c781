using System.Runtime.InteropServices;
using Akka.Hosting;
using Akka.Logger.Serilog;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;

// An application that mounts an in-memory filesystem as part of its Akka.NET actor system, the way the README shows:
// `hosted-memfs MOUNTPOINT`. It mounts when the host starts, prints one line once the health check says the mount
// serves, and unmounts when the host stops (Ctrl-C, SIGTERM). Akka's log goes to Serilog through Akka.Logger.Serilog.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: hosted-memfs MOUNTPOINT");
    return 2;
}
var mountpoint = Path.GetFullPath(args[0]);

Log.Logger = new LoggerConfiguration()
    .MinimumLevel.Information()
    .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
    .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
        outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} [{LogSource}] {Message:lj}{NewLine}{Exception}")
    .CreateLogger();

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();   // the host's own lines are not needed here; Akka's go to Serilog below
builder.Services.AddAkka("hosted-memfs", akka => akka
    .ConfigureLoggers(loggers =>
    {
        loggers.ClearLoggers();
        loggers.AddLogger<SerilogLogger>();
        loggers.WithDefaultLogMessageFormatter<SerilogLogMessageFormatter>();
    })
    .WithFuseMount(mountpoint, MemoryFs.Props(), o =>
    {
        o.Name = "data";
        o.UnmountGrace = TimeSpan.FromSeconds(2);
    }));
builder.Services.AddHealthChecks().AddFuseMountHealthCheck("data");

using var host = builder.Build();
// The generic host stops on SIGINT and SIGTERM; a closed terminal (SIGHUP) would otherwise kill the process and leave
// a dead mount, so SIGHUP stops it the same way.
using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, signal =>
{
    signal.Cancel = true;
    host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
});
await host.StartAsync();

var health = host.Services.GetRequiredService<HealthCheckService>();
var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
HealthReport report;
while ((report = await health.CheckHealthAsync()).Status != HealthStatus.Healthy && DateTime.UtcNow < deadline)
    await Task.Delay(50);
if (report.Status != HealthStatus.Healthy)
{
    Log.Error("the mount at {Mountpoint} is not serving: {Description}", mountpoint, report.Entries["fuse-mount:data"].Description);
    await host.StopAsync();
    await Log.CloseAndFlushAsync();
    return 1;
}
Console.WriteLine($"hosted-memfs: mounted at {mountpoint} ({report.Status})");

await host.WaitForShutdownAsync();
await Log.CloseAndFlushAsync();
return 0;
