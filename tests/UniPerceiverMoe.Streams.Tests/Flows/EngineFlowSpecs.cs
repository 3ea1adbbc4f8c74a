using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Tests.Support;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Flows;

/// <summary>The engine's Akka.Streams stages in a graph of the test's own (the engine's system materializes it).</summary>
public sealed class EngineFlowSpecs(StreamEngine host) : IClassFixture<StreamEngine>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private IMaterializer Materializer => host.Engine.System.Materializer();

    /// <summary>Three different clips [4, 3, 224, 224] from the fixture image (the image, flipped, darkened).</summary>
    private static Tensor[] Clips()
    {
        var image = GoldenFixture.Input("image.clip_224");
        var frames = image.dim() == 3 ? image : image[0];
        return [frames.expand(4, -1, -1, -1).contiguous(), frames.flip(2).expand(4, -1, -1, -1).contiguous(), TorchScalar.Use(0.5, half => frames.mul(half)).expand(4, -1, -1, -1).contiguous()];
    }

    [Fact]
    public async Task Caption_flow_should_batch_keep_input_order_and_match_single_calls()
    {
        var clips = Clips();
        try
        {
            var calls = new List<long>();
            var counting = new CountingEngine(host.Engine, calls);
            var captions = await Source.From(clips)
                .Via(counting.CaptionFlow(parallelism: 1, maxBatch: 2, maxDelay: TimeSpan.FromSeconds(1)))
                .RunWith(Sink.Seq<EngineCaption>(), Materializer).WaitAsync(Timeout);

            Assert.Equal(3, captions.Count);
            for (int i = 0; i < clips.Length; i++)
                Assert.Equal((await host.Engine.CaptionAsync(clips[i])).Text, captions[i].Text);
            Assert.Equal(3, calls.Sum());
            Assert.True(calls.Count < 3, $"batches of up to 2 should have made fewer than 3 engine calls (sizes {string.Join(", ", calls)})");
        }
        finally
        {
            foreach (var c in clips) c.Dispose();
        }
    }

    [Fact]
    public async Task Caption_flow_should_fail_the_stream_with_the_engines_error_for_a_bad_element()
    {
        using var bad = zeros(2, 2);
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            Source.Single(bad).Via(host.Engine.CaptionFlow()).RunWith(Sink.Seq<EngineCaption>(), Materializer).WaitAsync(Timeout));
        Assert.Contains("image [3, S, S] or a clip [T, 3, S, S]", error.Message);
    }

    [Fact]
    public async Task Classify_and_embed_flows_should_equal_the_engines_own_calls()
    {
        var image = GoldenFixture.Input("image.in1k_224");
        string[] labels = ["a dog", "a cat", "a car"];
        var viaFlow = await Source.From([image, image]).Via(host.Engine.ClassifyFlow(labels, parallelism: 2))
            .RunWith(Sink.Seq<ClassificationResult>(), Materializer).WaitAsync(Timeout);
        var direct = await host.Engine.ClassifyAsync(image, labels, video: false);
        Assert.All(viaFlow, r => Assert.Equal(direct.Labels.Select(l => l.Label), r.Labels.Select(l => l.Label)));

        using var feature = await Source.Single(image).Via(host.Engine.EmbedFlow(EmbedTask.ImageClassification))
            .RunWith(Sink.First<Tensor>(), Materializer).WaitAsync(Timeout);
        using var expected = await host.Engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        Assert.True(feature.allclose(expected, rtol: 0, atol: 1e-6));

        using var text = await Source.Single("a dog").Via(host.Engine.EmbedTextFlow(EmbedTask.ClassNameTarget))
            .RunWith(Sink.First<Tensor>(), Materializer).WaitAsync(Timeout);
        Assert.Equal(feature.shape[^1], text.shape[^1]);
        Assert.Throws<ArgumentException>(() => host.Engine.EmbedFlow(EmbedTask.ClassNameTarget));
        Assert.Throws<ArgumentOutOfRangeException>(() => host.Engine.CaptionFlow(maxBatch: 4));   // batching needs a max delay
    }

    [Fact]
    public async Task A_tagged_caption_forward_should_hand_over_each_caption_once_with_the_results_texts()
    {
        var clips = Clips();
        try
        {
            using var batch = stack(clips, 0);
            var plain = await host.Engine.RunTaggedAsync(RouteTag.Caption, batch);
            // The engine (early, from its decoding thread) and an implementation that keeps the interface's default.
            foreach (IUniPerceiverEngine engine in new IUniPerceiverEngine[] { host.Engine, new CountingEngine(host.Engine, []) })
            {
                var handed = new System.Collections.Concurrent.ConcurrentQueue<(int Index, EngineCaption Caption)>();
                var result = await engine.RunTaggedCaptionsAsync(RouteTag.Caption, batch, (i, c) => handed.Enqueue((i, c))).WaitAsync(Timeout);

                Assert.Equal([0, 1, 2], handed.Select(h => h.Index).Order());
                foreach (var (index, caption) in handed) Assert.Same(result.Captions![index], caption);
                Assert.Equal(plain.Captions!.Select(c => c.Text), result.Captions!.Select(c => c.Text));
            }
            foreach (IUniPerceiverEngine engine in new IUniPerceiverEngine[] { host.Engine, new CountingEngine(host.Engine, []) })
                Assert.Contains("does not caption", (await Assert.ThrowsAsync<ArgumentException>(() =>
                    engine.RunTaggedCaptionsAsync(RouteTag.Classification, batch, (_, _) => { }))).Message);
        }
        finally
        {
            foreach (var c in clips) c.Dispose();
        }
    }

    /// <summary>Records the batch size of every batched caption call (batched captions and tagged caption forwards); keeps
    /// the interface's default <see cref="IUniPerceiverEngine.RunTaggedCaptionsAsync"/>.</summary>
    private sealed class CountingEngine(UniPerceiverEngine inner, List<long> calls) : IUniPerceiverEngine
    {
        public string Name => inner.Name;
        public Model.Tokenization.ClipTokenizer Tokenizer => inner.Tokenizer;
        public Actors.EngineCounters Counters => inner.Counters;
        public Task<EngineCaption> CaptionAsync(Tensor pixels, Model.Decoding.CaptionOptions? options = null, Model.Decoding.VocabularyBank? restrictTo = null, CancellationToken cancellation = default) =>
            inner.CaptionAsync(pixels, options, restrictTo, cancellation);
        public Task<IReadOnlyList<EngineCaption>> CaptionBatchAsync(Tensor clips, Model.Decoding.CaptionOptions? options = null, CancellationToken cancellation = default)
        {
            lock (calls) calls.Add(clips.shape[0]);
            return inner.CaptionBatchAsync(clips, options, cancellation);
        }
        public Task<TaggedResult> RunTaggedAsync(RouteTag tag, Tensor? inputs, IReadOnlyList<string>? texts = null, Model.Decoding.CaptionOptions? options = null,
            CancellationToken cancellation = default)
        {
            if (inputs is not null && tag.Head == RouteHead.Caption) lock (calls) calls.Add(inputs.shape[0]);
            return inner.RunTaggedAsync(tag, inputs, texts, options, cancellation);
        }
        public Task<TextTargets> TextTargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation = default) =>
            inner.TextTargetsAsync(texts, task, scoredAs, cancellation);
        public Task<ClassificationResult> ClassifyAsync(Tensor views, IReadOnlyList<string> labels, bool video, CancellationToken cancellation = default) =>
            inner.ClassifyAsync(views, labels, video, cancellation);
        public Task<RetrievalResult> RetrieveTextsAsync(Tensor pixels, IReadOnlyList<string> texts, CancellationToken cancellation = default) =>
            inner.RetrieveTextsAsync(pixels, texts, cancellation);
        public Task<RetrievalResult> RetrieveVisualsAsync(string text, IReadOnlyList<(string Name, Tensor Pixels)> visuals, CancellationToken cancellation = default) =>
            inner.RetrieveVisualsAsync(text, visuals, cancellation);
        public Task<Tensor> EmbedVisualAsync(Tensor pixels, EmbedTask task, CancellationToken cancellation = default) => inner.EmbedVisualAsync(pixels, task, cancellation);
        public Task<Tensor> EmbedTextAsync(string text, EmbedTask task, CancellationToken cancellation = default) => inner.EmbedTextAsync(text, task, cancellation);
    }
}
