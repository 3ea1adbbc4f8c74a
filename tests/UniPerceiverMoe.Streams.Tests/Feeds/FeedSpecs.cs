using System.Collections.Concurrent;
using System.Net;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Tests.Support;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Streams.Tests.Feeds;

/// <summary>Text and image feeds end to end over the golden tiny model: a text feed is tokenized under the text tag,
/// encoded under that tag at the experts and matched against the windows its streams remember; an image folder
/// classifies exactly as the video it was cut from; a watched folder picks up images as they appear; a failing text
/// feed fails alone.</summary>
public sealed class FeedSpecs(StreamEngine host, ITestOutputHelper output) : IClassFixture<StreamEngine>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static readonly string[] Texts = ["a clock", "a test pattern", "a dog running on grass"];
    private static readonly string[] Labels = ["a test pattern", "a dog running on grass", "colour bars"];

    [Fact]
    public async Task A_text_feed_should_be_encoded_under_the_text_tag_at_the_experts_and_rank_the_remembered_windows()
    {
        var observer = new RouteObserver(new EngineWindows(host.Engine), host.Engine.Counters);
        await using var hub = new CaptionStreamHub(host.Engine.System, observer,
            StreamEngine.Settings("upmoe.streams { max-delay = 300ms, batches-in-flight = 1, match.top = 2 }"));
        var memory = new WindowMemory(hub.Settings.MatchMemory);
        var tasks = StreamTasks.Parse(["match"], [], [], hub.Settings, textFeed: true);
        var stream = await hub.AddStreamAsync("video", FrameSources.VideoFile(TestVideos.Clips[0], 30), tasks, EventSinks.Callback(_ => { }), memory: memory);
        await stream.Completion.WaitAsync(Timeout);
        Assert.Equal(3, memory.Count);

        var matches = new ConcurrentQueue<TextMatch>();
        var (_, done) = hub.RunTextFeed("feed", TextSources.Lines(new StringReader(string.Join("\n", Texts) + "\n\n")), memory,
            Sink.ForEach<TextMatch>(matches.Enqueue).MapMaterializedValue(t => (Task)t));
        await done.WaitAsync(Timeout);

        Assert.Equal(Texts, matches.Select(m => m.Text));                           // every text, in feed order (the blank line skipped)
        Assert.Equal([0L, 1L, 2L], matches.Select(m => m.Line));
        var textForwards = observer.Forwards.Where(f => f.Tag == RouteTag.Text).ToArray();
        Assert.NotEmpty(textForwards);
        Assert.Equal(Texts.Length, textForwards.Sum(f => f.Size));
        foreach (var f in textForwards)
        {
            output.WriteLine($"{f.Tag} x{f.Size}: {string.Join(", ", f.Routed.Select(kv => $"{kv.Key}={kv.Value}"))}");
            Assert.Equal([MoeAttribute.RetrievalTarget], f.Routed.Keys);              // the experts were asked under the feed's tag only
        }
        foreach (var m in matches)
        {
            Assert.Equal(2, m.Windows.Count);
            Assert.True(m.Windows[0].Score >= m.Windows[1].Score);
            // The feed's encoding of a text is the engine's retrieval-target embedding of it.
            using var text = await host.Engine.EmbedTextAsync(m.Text, EmbedTask.RetrievalTarget);
            var row = text.data<float>().ToArray();
            foreach (var hit in m.Windows)
                Assert.Equal(TaskFlows.Cosine(hit.Window.Features, row), hit.Score, Tolerances.Features);
            output.WriteLine($"'{m.Text}': {string.Join(", ", m.Windows.Select(h => $"w{h.Window.Window} {h.Score:F4}"))}");
        }
    }

    [Fact]
    public async Task A_failing_text_feed_should_fail_alone_naming_the_feed_while_its_stream_finishes()
    {
        await using var hub = CaptionStreamHub.Start(host.Engine, StreamEngine.Settings("upmoe.streams.max-delay = 100ms"));
        var memory = new WindowMemory(8);
        var tasks = StreamTasks.Parse(["match"], [], [], hub.Settings, textFeed: true);
        var stream = await hub.AddStreamAsync("video", FrameSources.VideoFile(TestVideos.Clips[1], 30), tasks, EventSinks.Callback(_ => { }), memory: memory);
        var broken = Source.Single("a clock").Concat(Source.Failed<string>(new IOException("the feed's socket was reset")));
        var (_, done) = hub.RunTextFeed("tcp://10.0.0.9:7070", broken, memory, Sink.Ignore<TextMatch>().MapMaterializedValue(t => (Task)t));
        var error = await Assert.ThrowsAsync<CaptionStreamException>(() => done.WaitAsync(Timeout));
        output.WriteLine(error.Message);
        Assert.Contains("tcp://10.0.0.9:7070", error.Message);
        Assert.Contains("socket was reset", error.Message);
        await stream.Completion.WaitAsync(Timeout);
        Assert.Equal((3L, 3L), (stream.Stats.WindowsIn.Value, stream.Stats.Captioned.Value));
    }

    [Fact]
    public async Task An_image_folder_should_classify_exactly_as_the_video_it_was_cut_from()
    {
        var video = TestVideos.Clips[2];
        var folder = TestVideos.PngFrames(video);
        await using var hub = CaptionStreamHub.Start(host.Engine, StreamEngine.Settings("upmoe.streams.max-delay = 100ms"));
        var tasks = StreamTasks.Parse(["classify"], Labels, [], hub.Settings);
        var fromVideo = new ConcurrentQueue<IStreamEvent>();
        var fromImages = new ConcurrentQueue<IStreamEvent>();
        var a = await hub.AddStreamAsync("video", FrameSources.VideoFile(video, 30), tasks, EventSinks.Callback(fromVideo.Enqueue));
        var b = await hub.AddStreamAsync("images", FrameSources.ImageFolder(folder, 30), tasks, EventSinks.Callback(fromImages.Enqueue));
        await Task.WhenAll(a.Completion, b.Completion).WaitAsync(Timeout);

        var expected = fromVideo.Cast<StreamClassification>().ToArray();
        var actual = fromImages.Cast<StreamClassification>().ToArray();
        Assert.Equal(3, actual.Length);
        Assert.Equal(expected.Select(e => e.Window), actual.Select(e => e.Window));
        foreach (var (e, x) in expected.Zip(actual))
            foreach (var (l, m) in e.Labels.Zip(x.Labels))
            {
                Assert.Equal(l.Label, m.Label);
                Assert.Equal(l.Probability, m.Probability, Tolerances.Features);
            }
    }

    [Fact]
    public async Task A_watched_folder_should_stream_images_as_they_appear_until_stopped()
    {
        var frames = TestVideos.PngFrames(TestVideos.Clips[0]);
        var watched = Path.Combine(Path.GetTempPath(), "upmoe-watched-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(watched);
        await using var hub = CaptionStreamHub.Start(host.Engine, StreamEngine.Settings("upmoe.streams { max-delay = 100ms, window = 1, hop = 1s }"));
        var tasks = StreamTasks.Parse(["classify"], Labels, [], hub.Settings);
        var events = new ConcurrentQueue<IStreamEvent>();
        var stream = await hub.AddStreamAsync("watched", FrameSources.WatchedFolder(watched, 2, TimeSpan.FromMilliseconds(50)), tasks,
            EventSinks.Callback(events.Enqueue));
        // Two images a second apart in stream time (2 fps, hop 1 s): the second window starts at the third image.
        foreach (var (file, i) in Directory.GetFiles(frames).Order().Take(4).Select((f, i) => (f, i)))
        {
            File.Copy(file, Path.Combine(watched, $"{i:D4}.png"));
            await Task.Delay(150);
        }
        var deadline = DateTime.UtcNow + Timeout;
        while (events.Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        stream.Stop();
        await stream.Completion.WaitAsync(Timeout);
        Assert.Equal([0L, 1L], events.Select(e => e.Window).Take(2));
        Assert.True(stream.Stats.Balanced);
    }
}
