using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;

namespace FuseActors.Hosting.Tests;

/// <summary>The library logs with named templates (<c>{Mountpoint}</c>); under Akka 1.5.75's default formatter
/// (SemanticLogMessageFormatter) they render the same text as positional ones, and carry their property names.</summary>
public sealed class LogTemplateTests
{
    [Fact]
    public async Task Named_templates_render_like_positional_ones_under_the_default_formatter()
    {
        using var system = ActorSystem.Create("log-templates", "akka.loglevel = INFO\nakka.stdout-loglevel = OFF");
        try
        {
            Assert.Contains("SemanticLogMessageFormatter", system.Settings.Config.GetString("akka.logger-formatter"));
            var seen = new ConcurrentQueue<LogEvent>();
            var actor = system.ActorOf(Props.Create(() => new Collector(seen)));
            system.EventStream.Subscribe(actor, typeof(Info));
            await Task.Delay(100);
            system.Log.Info("{0} is busy; detaching it and giving its users {1} s; {2:0} µs", "/mnt/x", 5.0, 12.7);
            system.Log.Info("{Mountpoint} is busy; detaching it and giving its users {Seconds} s; {Micros:0} µs", "/mnt/x", 5.0, 12.7);
            for (int i = 0; i < 600 && seen.Count < 2; i++) await Task.Delay(50);
            var texts = seen.Select(e => e.Message.ToString()).ToList();
            Assert.Equal(2, texts.Count);
            Assert.Equal("/mnt/x is busy; detaching it and giving its users 5 s; 13 µs", texts[0]);
            Assert.Equal(texts[0], texts[1]);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private sealed class Collector : ReceiveActor
    {
        public Collector(ConcurrentQueue<LogEvent> seen) => Receive<LogEvent>(seen.Enqueue);
    }
}
