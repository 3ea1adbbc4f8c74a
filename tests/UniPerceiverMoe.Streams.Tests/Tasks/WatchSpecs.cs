using UniPerceiverMoe.Streams.Hub;
using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Tasks;

/// <summary>Task <c>watch</c>: standing queries with a threshold and hysteresis, through a whole stream whose engine
/// answers scripted scores (window k's feature is the unit vector at angle acos(score k) to the query's).</summary>
public sealed class WatchSpecs(ITestOutputHelper output)
{
    [Fact]
    public void WatchState_should_not_flap_on_a_score_hovering_at_the_threshold()
    {
        var hovering = new[] { 0.301, 0.299, 0.302, 0.28, 0.305, 0.27, 0.3, 0.29 };
        var state = new WatchState(threshold: 0.3, hysteresis: 0.05);
        var events = hovering.Select(state.Observe).Where(e => e is not null).ToArray();
        Assert.Equal([AlertKind.Start], events.Select(e => e!.Value));
        Assert.Equal(AlertKind.Stop, state.Observe(0.249));
        Assert.Null(state.Observe(0.29));                    // below the threshold again: no new start
        Assert.Equal(AlertKind.Start, state.Observe(0.3));

        // The same scores without hysteresis flap on every crossing: the margin is what prevents it.
        var bare = new WatchState(threshold: 0.3, hysteresis: 0);
        Assert.True(hovering.Select(bare.Observe).Count(e => e is not null) >= 6);
    }

    [Fact]
    public async Task A_watch_stream_should_alert_once_per_episode_while_the_score_hovers_and_keep_accounting()
    {
        double[] scores = [0.1, 0.31, 0.29, 0.31, 0.28, 0.32, 0.29, 0.05, 0.02, 0.35, 0.3, 0.2];
        var engine = new ScriptedEngine(scores);
        using var system = ActorSystem.Create("watch-specs");
        var settings = StreamEngine.Settings("upmoe.streams { window = 1, stride = 1, hop = 1s, max-batch = 1, in-flight-per-stream = 1, watch { threshold = 0.3, hysteresis = 0.05 } }");
        await using var hub = new CaptionStreamHub(system, engine, settings);
        var events = new ConcurrentQueue<IStreamEvent>();
        var tasks = StreamTasks.Parse(["watch"], [], ["a red circle moving left"], settings);
        var stream = await hub.AddStreamAsync("cam", Frames(scores.Length), tasks, EventSinks.Callback(events.Enqueue));
        await stream.Completion.WaitAsync(TimeSpan.FromSeconds(60));

        foreach (var e in events) output.WriteLine(EventSinks.ToJson(e));
        var alerts = events.Cast<StreamAlerts>().ToArray();
        Assert.Equal([(1L, AlertKind.Start), (7L, AlertKind.Stop), (9L, AlertKind.Start), (11L, AlertKind.Stop)],
            alerts.Select(a => (a.Window, Assert.Single(a.Alerts).Kind)));
        Assert.All(alerts, a => Assert.Equal("a red circle moving left", a.Alerts[0].Query));
        Assert.Equal(0.31, alerts[0].Alerts[0].Score, 5);
        var stats = stream.Stats.Snapshot();
        Assert.Equal((12L, 12L, 0L, 0L, 4L), (stats.WindowsIn, stats.Captioned, stats.Dropped, stats.Failed, stats.Emitted));
        Assert.All(engine.Tags, t => Assert.Equal(RouteTag.Retrieval, t));
    }

    /// <summary>8x8 frames at 1 fps, one per window (window 1, hop 1 s).</summary>
    private static FrameSource Frames(int count) =>
        new("scripted", 1, Live: false, Paced: false,
            Source.From(Enumerable.Range(0, count).Select(i => new VideoFrame(i, TimeSpan.FromSeconds(i), new byte[8 * 8 * 3], 8, 8))));

    /// <summary>Answers forward k (one window each) with a 2-d unit feature whose cosine to the query [1, 0] is
    /// scores[k].</summary>
    private sealed class ScriptedEngine(double[] scores) : IWindowEngine
    {
        private int next;

        public ConcurrentQueue<RouteTag> Tags { get; } = new();

        public Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
        {
            Tags.Enqueue(tag);
            var rows = Enumerable.Range(0, (int)clips.shape[0]).Select(_ =>
            {
                double s = scores[Interlocked.Increment(ref next) - 1];
                return new[] { (float)s, (float)Math.Sqrt(1 - s * s) };
            }).ToArray();
            return Task.FromResult(new TaggedResult(tag, null, rows));
        }

        public Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation) =>
            throw new NotSupportedException("watch streams encode no texts at run time (their queries are targets)");

        public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
            Task.FromResult(new TextTargets(texts, texts.Select(_ => new[] { 1f, 0f }).ToArray(), 1f));
    }
}
