using Akka.Hosting;
using FuseActors.Filesystems.MemoryFs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace FuseActors.Hosting.Tests;

/// <summary>The FuseActors meter read through OpenTelemetry, the way an application exports it: an IHost with
/// <c>AddOpenTelemetry().WithMetrics(m => m.AddMeter("FuseActors"))</c>, a filesystem served in process, and the
/// exported metrics checked by name, tags and values.</summary>
public sealed class OpenTelemetryTests
{
    [Fact]
    public async Task OpenTelemetry_exports_the_FuseActors_meter_with_requests_by_opcode_errors_and_bytes()
    {
        var exported = new List<Metric>();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter("FuseActors").AddInMemoryExporter(exported));
        builder.Services.AddAkka("otel", b => b.WithFuseFilesystem("mem", MemoryFs.Props()));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var fs = await FuseMountRegistry.For(host.Services.GetRequiredService<Akka.Actor.ActorSystem>())
                .GetFilesystemAsync("mem").WaitAsync(TimeSpan.FromSeconds(10));
            await fs.Files.WriteAllTextAsync("/a.txt", "hello, otel");
            Assert.Equal("hello, otel", await fs.Files.ReadAllTextAsync("/a.txt"));
            await Assert.ThrowsAnyAsync<Exception>(() => fs.Files.ReadAllTextAsync("/missing"));

            // Collected and exported on demand; on a loaded machine the first collection can come up short, so it is
            // asked again (each export replaces the list) until it holds what was done, for up to 30 s.
            var provider = host.Services.GetRequiredService<MeterProvider>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            bool flushed;
            do
            {
                lock (exported) exported.Clear();
                flushed = provider.ForceFlush(10_000);
                if (flushed && Complete(exported)) break;
                await Task.Delay(200);
            } while (DateTime.UtcNow < deadline);
            Assert.True(flushed, "ForceFlush did not finish");

            var requests = Points(exported, "fuseactors.requests");
            Assert.Contains(requests, p => Tag(p, "opcode") == "CREATE" && p.GetSumLong() >= 1);
            Assert.Contains(requests, p => Tag(p, "opcode") == "WRITE" && p.GetSumLong() >= 1);
            Assert.All(requests, p => Assert.False(string.IsNullOrEmpty(Tag(p, "mount"))));
            Assert.Contains(Points(exported, "fuseactors.errors"), p => Tag(p, "errno") == "ENOENT" && p.GetSumLong() >= 1);
            Assert.Contains(Points(exported, "fuseactors.bytes.written"), p => p.GetSumLong() >= "hello, otel".Length);
            Assert.Contains(exported, m => m.Name == "fuseactors.request.duration" && m.MetricType == MetricType.Histogram);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    // Everything the assertions below look for: a request's count is recorded as its answer is written, so the last
    // request (the failed read) can still be missing from an export taken as soon as the caller has its answer.
    private static bool Complete(List<Metric> exported)
    {
        var names = exported.Select(m => m.Name).ToHashSet();
        if (!names.IsSupersetOf(["fuseactors.requests", "fuseactors.errors", "fuseactors.bytes.written", "fuseactors.request.duration"]))
            return false;
        var requests = PointsOf(exported, "fuseactors.requests");
        return requests.Exists(p => Tag(p, "opcode") == "CREATE" && p.GetSumLong() >= 1)
            && requests.Exists(p => Tag(p, "opcode") == "WRITE" && p.GetSumLong() >= 1)
            && PointsOf(exported, "fuseactors.errors").Exists(p => Tag(p, "errno") == "ENOENT" && p.GetSumLong() >= 1)
            && PointsOf(exported, "fuseactors.bytes.written").Exists(p => p.GetSumLong() >= "hello, otel".Length);
    }

    private static List<MetricPoint> PointsOf(List<Metric> exported, string name)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in exported.Where(m => m.Name == name))
            foreach (ref readonly var p in metric.GetMetricPoints()) points.Add(p);
        return points;
    }

    private static List<MetricPoint> Points(List<Metric> exported, string name)
    {
        var points = PointsOf(exported, name);
        Assert.True(points.Count > 0, $"no {name} among {string.Join(", ", exported.Select(m => m.Name).Distinct())}");
        return points;
    }

    private static string? Tag(MetricPoint p, string key)
    {
        foreach (var t in p.Tags) if (t.Key == key) return t.Value?.ToString();
        return null;
    }
}
