using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Bench.Streams;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Bench;

/// <summary>The mixed-task benchmark on a tiny load: its report's structure and accounting, and that no forward of
/// either run mixed route tags (its numbers are not checked: they depend on the machine).</summary>
public sealed class MixedStreamBenchmarkSpecs(StreamEngine host, ITestOutputHelper output) : IClassFixture<StreamEngine>
{
    // Each stream: 60 frames, hop 500 ms at 30 fps: 3 windows (starting at frames 0, 15, 30).

    /// <summary>Caption streams show white frames, classify and watch streams black ones, so after preprocessing the
    /// sign of a clip's mean says which route its stream asked for.</summary>
    private static FrameSource Frames(int stream, MixedStreamOptions options)
    {
        byte level = MixedStreamBenchmark.TasksOf(stream, options).Caption ? (byte)255 : (byte)0;
        var rgb = Enumerable.Repeat(level, 64 * 48 * 3).ToArray();
        var frames = Enumerable.Range(0, 60).Select(i => new VideoFrame(i, TimeSpan.FromSeconds(i / 30.0), rgb, 48, 64));
        return new FrameSource($"{(level == 255 ? "white" : "black")}-{stream}", 30, Live: false, Paced: false, Source.From(frames));
    }

    [Fact]
    public async Task Mixed_benchmark_should_report_tasks_and_routes_of_both_runs_and_never_mix_routes_in_a_forward()
    {
        var recorder = new RouteRecorder(new EngineWindows(host.Engine));
        var text = new StringWriter();
        var options = new MixedStreamOptions
        {
            Settings = StreamEngine.Settings("upmoe.streams.hop = 500ms"),
            Mix = ["caption", "classify", "watch"],
            Streams = 5,                                        // caption, classify, watch, caption, classify
            Warmup = TimeSpan.Zero,
            Rounds = 2,                                         // by route, one per window, one per window, by route
            Duration = TimeSpan.FromSeconds(2),
            Labels = ["a white frame", "a black frame"],
            Queries = ["darkness"],
        };
        options = options with { Source = (i, _) => Frames(i, options) };

        var result = await MixedStreamBenchmark.RunAsync(host.Engine.System, recorder, options, text).WaitAsync(TimeSpan.FromSeconds(120));

        output.WriteLine(text.ToString());
        var lines = text.ToString().Trim().Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.StartsWith("mixed streams: 5 streams (caption, classify, watch in turn)", lines[0]);
        foreach (var mode in new[] { "by route:", "one forward per window:" })
        {
            int at = Array.IndexOf(lines, mode);
            Assert.True(at > 0, $"no '{mode}' section");
            Assert.Matches(new Regex(@"^  task caption  streams 4: windows 12, done 12, dropped 0, failed 0, latency p50 \d+ ms, p99 \d+ ms$"), lines[at + 1]);
            Assert.Matches(new Regex(@"^  task classify streams 4: windows 12, done 12, dropped 0, failed 0, latency p50 \d+ ms, p99 \d+ ms$"), lines[at + 2]);
            Assert.Matches(new Regex(@"^  task watch    streams 2: windows 6, done 6, dropped 0, failed 0, latency p50 \d+ ms, p99 \d+ ms$"), lines[at + 3]);
            Assert.Matches(new Regex(@"^  route caption/11011000 +forwards \d+, windows 12, windows per forward \d+\.\d\d$"), lines[at + 4]);
            Assert.Matches(new Regex(@"^  route features/10011000 +forwards \d+, windows 18, windows per forward \d+\.\d\d$"), lines[at + 5]);
            Assert.Matches(new Regex(@"^  all: forwards \d+, done 30 of 30 windows, latency p50 \d+ ms, p99 \d+ ms$"), lines[at + 6]);
        }
        Assert.Matches(new Regex(@"^by route vs one forward per window: forwards \d+\.\d\d×, done windows 1\.00×, dropped 0 vs 0, p50 \d+\.\d\d×, p99 \d+\.\d\d×$"), lines[^1]);

        // One forward per window: every forward carries one window.
        Assert.All(result.OnePerWindow.Routes, r => Assert.Equal(r.Windows, r.Forwards));
        Assert.All(result.ByRoute.Routes, r => Assert.InRange(r.Forwards, 1, r.Windows));
        // The engine saw exactly the forwards the report counts, and each forward only windows of its own route.
        var reported = result.ByRoute.Routes.Concat(result.OnePerWindow.Routes).GroupBy(r => r.Tag)
            .ToDictionary(g => g.Key, g => (g.Sum(r => r.Forwards), g.Sum(r => r.Windows)));
        Assert.Equal(reported.OrderBy(kv => kv.Key.ToString()), recorder.ByTag().OrderBy(kv => kv.Key.ToString()));
        Assert.Empty(recorder.Mixed);
    }

    /// <summary>Records each forward's tag and size, and every forward holding a window whose stream asked for another
    /// route (white clips belong to caption streams, black ones to classify and watch).</summary>
    private sealed class RouteRecorder(IWindowEngine inner) : IWindowEngine
    {
        private readonly ConcurrentQueue<(RouteTag Tag, int Windows)> forwards = new();

        public ConcurrentQueue<string> Mixed { get; } = new();

        public IReadOnlyDictionary<RouteTag, (long, long)> ByTag() =>
            forwards.GroupBy(f => f.Tag).ToDictionary(g => g.Key, g => ((long)g.Count(), (long)g.Sum(f => f.Windows)));

        public Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
        {
            using (NewDisposeScope())
            {
                var means = clips.reshape(clips.shape[0], -1).mean([1]).cpu().data<float>().ToArray();   // [B]
                forwards.Enqueue((tag, means.Length));
                var expected = tag == RouteTag.Caption ? "white" : "black";
                foreach (var m in means)
                    if ((m > 0 ? "white" : "black") != expected) Mixed.Enqueue($"{tag} forward of {means.Length} holds a {(m > 0 ? "white" : "black")} clip (mean {m})");
            }
            return inner.RunAsync(tag, clips, captioned, cancellation);
        }

        /// <summary>The mixed load has no text feed: a text forward here is as wrong as a mixed one.</summary>
        public Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation)
        {
            Mixed.Enqueue($"unexpected text forward {tag} of {texts.Count}");
            return inner.RunTextsAsync(tag, texts, cancellation);
        }

        public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
            inner.TargetsAsync(texts, task, scoredAs, cancellation);
    }
}
