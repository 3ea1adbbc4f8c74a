using UniPerceiverMoe.Streams.Hub;
using System.Collections.Concurrent;
using UniPerceiverMoe.Actors;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Tests.Support;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Tasks;

/// <summary>Stream tasks over the golden tiny model and ffmpeg-made 3 s clips (three windows each): the route tag set
/// by the tokenize stage is the attribute the expert groups are asked under, forwards never mix tags, classify and
/// watch share one encoding, and stream classification equals the engine's classify on the same frames.</summary>
public sealed class StreamTaskSpecs(StreamEngine host, ITestOutputHelper output) : IClassFixture<StreamEngine>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static readonly string[] Labels = ["a test pattern", "a dog running on grass", "colour bars"];
    private static readonly string[] Queries = ["a clock", "a person falls"];

    /// <summary>The attributes a forward under each head may route by: a caption's visual prefix under the tag's
    /// attribute and its words under caption row 1; features under the tag's attribute only.</summary>
    private static HashSet<MoeAttribute> Allowed(RouteTag tag) =>
        tag.Head == RouteHead.Caption ? [tag.Attribute, MoeAttribute.CaptionText] : [tag.Attribute];

    [Fact]
    public async Task The_tokenize_stage_tag_should_be_the_attribute_the_experts_are_asked_under_and_forwards_never_mix_tags()
    {
        await WarmTargetsAsync();
        var observer = new RouteObserver(new EngineWindows(host.Engine), host.Engine.Counters);
        // One forward at a time, so the engine's routed counters between its start and end belong to it alone.
        await using var hub = new CaptionStreamHub(host.Engine.System, observer,
            StreamEngine.Settings("upmoe.streams { max-delay = 300ms, batches-in-flight = 1 }"));
        var settings = hub.Settings;
        var tasks = new[]
        {
            StreamTasks.Parse(["caption"], [], [], settings),
            StreamTasks.Parse(["classify"], Labels, [], settings),
            StreamTasks.Parse(["watch"], [], Queries, settings),
            StreamTasks.Parse(["caption", "classify", "watch"], Labels, Queries, settings),
        };
        var events = new ConcurrentQueue<IStreamEvent>();
        var streams = new List<CaptionStream>();
        for (int i = 0; i < tasks.Length; i++)
            streams.Add(await hub.AddStreamAsync($"s{i}", FrameSources.VideoFile(TestVideos.Clips[i % TestVideos.Clips.Count], 30), tasks[i],
                EventSinks.Callback(events.Enqueue)));
        await Task.WhenAll(streams.Select(s => s.Completion)).WaitAsync(Timeout);

        foreach (var f in observer.Forwards)
            output.WriteLine($"{f.Tag} x{f.Size}: {string.Join(", ", f.Routed.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Assert.Equal([RouteTag.Caption, RouteTag.Classification], observer.Forwards.Select(f => f.Tag).Distinct().OrderBy(t => t.Head));
        foreach (var f in observer.Forwards)
        {
            Assert.Contains(f.Tag.Attribute, f.Routed.Keys);                             // the experts were asked under the tag...
            Assert.Subset(Allowed(f.Tag), f.Routed.Keys.ToHashSet());                    // ...and under nothing another tag needs
        }
        // Every window was forwarded once per distinct tag of its stream: classify and watch share one encoding.
        var byRoute = hub.ForwardsByRoute();
        Assert.Equal(3 + 3, byRoute[RouteTag.Caption].Windows);
        Assert.Equal(3 + 3 + 3, byRoute[RouteTag.Classification].Windows);
        foreach (var s in streams)
        {
            output.WriteLine($"{s.Id} {string.Join("+", s.Tasks.Names)}: {s.Stats.Snapshot()}");
            Assert.Equal((3L, 3L, 0L, 0L), (s.Stats.WindowsIn.Value, s.Stats.Captioned.Value, s.Stats.Dropped.Value, s.Stats.Failed.Value));
        }
        Assert.Equal(6, events.OfType<StreamCaption>().Count());
        Assert.Equal(6, events.OfType<StreamClassification>().Count());
    }

    [Fact]
    public async Task The_engine_should_route_a_forward_by_the_tag_it_is_given_without_deriving_its_own()
    {
        var frames = await FramesAsync(TestVideos.Clips[0]);
        var window = new Windows.FrameWindow("w", 0, [frames[0], frames[8], frames[16], frames[24]], 0);
        using var pixels = WindowFlows.Preprocess(window);
        using var clips = pixels.unsqueeze(0);
        // Attributes no stream task uses for pixels: only the tag can have put them on the experts' requests.
        var unusual = new RouteTag(MoeAttribute.TextMlmInput, RouteHead.Features);
        var routed = await RoutedDuringAsync(() => host.Engine.RunTaggedAsync(unusual, clips));
        Assert.Equal([MoeAttribute.TextMlmInput], routed.Keys);
        var captionTag = new RouteTag(MoeAttribute.VocabWord, RouteHead.Caption);
        routed = await RoutedDuringAsync(() => host.Engine.RunTaggedAsync(captionTag, clips));
        Assert.Equal(new HashSet<MoeAttribute> { MoeAttribute.VocabWord, MoeAttribute.CaptionText }, routed.Keys.ToHashSet());
        output.WriteLine(string.Join(", ", routed.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    [Fact]
    public async Task Stream_classification_should_equal_engine_classify_of_the_same_frames()
    {
        await using var hub = CaptionStreamHub.Start(host.Engine, StreamEngine.Settings("upmoe.streams.max-delay = 300ms"));
        var events = new ConcurrentQueue<IStreamEvent>();
        var clips = TestVideos.Clips.Take(2).ToArray();
        var tasks = StreamTasks.Parse(["classify"], Labels, [], hub.Settings);
        var streams = new List<CaptionStream>();
        foreach (var path in clips) streams.Add(await hub.AddStreamAsync(path, FrameSources.VideoFile(path, 30), tasks, EventSinks.Callback(events.Enqueue)));
        await Task.WhenAll(streams.Select(s => s.Completion)).WaitAsync(Timeout);

        var classified = events.Cast<StreamClassification>().ToArray();
        Assert.Equal(6, classified.Length);
        double worst = 0;
        foreach (var path in clips)
        {
            var frames = await FramesAsync(path);
            foreach (var c in classified.Where(c => c.StreamId == path))
            {
                // The window's frames, as the stream's sampler cut them (window 4, stride 8, hop 1 s at 30 fps).
                var window = new Windows.FrameWindow(path, c.Window, Enumerable.Range(0, 4).Select(k => frames[(int)c.Window * 30 + 8 * k]).ToArray(), 0);
                using var pixels = WindowFlows.Preprocess(window);
                var single = await host.Engine.ClassifyAsync(pixels, Labels, video: true);
                Assert.Equal(single.Labels.Select(l => l.Label), c.Labels.Select(l => l.Label));
                foreach (var (a, b) in single.Labels.Zip(c.Labels))
                {
                    worst = Math.Max(worst, Math.Abs(a.Probability - b.Probability));
                    Assert.Equal(a.Probability, b.Probability, Tolerances.Features);
                    Assert.Equal(a.Logit, b.Logit, Tolerances.Logits);
                }
            }
        }
        output.WriteLine($"stream vs engine classify: worst max |diff| of label probabilities {worst:E2} over {classified.Length} windows");
    }

    [Fact]
    public async Task A_bad_feed_should_fail_alone_while_task_streams_beside_it_finish()
    {
        await using var hub = CaptionStreamHub.Start(host.Engine, StreamEngine.Settings("upmoe.streams.max-delay = 100ms"));
        var tasks = StreamTasks.Parse(["classify", "watch"], Labels, Queries, hub.Settings);
        var good = await hub.AddStreamAsync("good", FrameSources.VideoFile(TestVideos.Clips[0], 30), tasks, EventSinks.Callback(_ => { }));
        var corruptPath = TestVideos.Corrupt();
        var bad = await hub.AddStreamAsync("bad", FrameSources.VideoFile(corruptPath, 30), tasks, EventSinks.Callback(_ => { }));
        var error = await Assert.ThrowsAsync<CaptionStreamException>(() => bad.Completion.WaitAsync(Timeout));
        await good.Completion.WaitAsync(Timeout);
        output.WriteLine(error.Message);
        Assert.Contains(corruptPath, error.Message);
        Assert.Equal((3L, 3L), (good.Stats.WindowsIn.Value, good.Stats.Captioned.Value));
        Assert.True(good.Stats.Balanced && bad.Stats.Balanced);
    }

    private async Task WarmTargetsAsync()
    {
        await host.Engine.TextTargetsAsync(Labels, EmbedTask.ClassNameTarget, EmbedTask.VideoClassification);
        await host.Engine.TextTargetsAsync(Queries, EmbedTask.RetrievalTarget, EmbedTask.VideoRetrieval);
    }

    private async Task<IReadOnlyDictionary<MoeAttribute, long>> RoutedDuringAsync(Func<Task> forward)
    {
        var before = host.Engine.Counters.RoutedByAttribute();
        await forward();
        return RouteObserver.Delta(before, host.Engine.Counters.RoutedByAttribute());
    }

    private static async Task<List<VideoFrame>> FramesAsync(string path)
    {
        var frames = new List<VideoFrame>();
        await foreach (var f in FfmpegVideoReader.ReadFramesAsync(path, new FfmpegOptions { Fps = 30 })) frames.Add(f);
        return frames;
    }
}
