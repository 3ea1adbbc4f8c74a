using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Tests.Support;
using UniPerceiverMoe.Streams.Windows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Flows;

/// <summary>
/// A caption that is final before its batch's forward completes is delivered then: the batching stage passes it on at
/// once and still emits it with its batch, a forward that fails afterwards leaves it as it was, and the streams'
/// batcher settles its window (outcome, counters) while the forward still runs. The runners here hold their forward
/// open on a gate until the test has seen the early caption, so "early" is observed, not inferred from timing.
/// </summary>
public sealed class EarlyCaptionSpecs : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ActorSystem system = ActorSystem.Create("early-caption-specs");
    private readonly Tensor[] pixels = Enumerable.Range(0, 6).Select(Filled).ToArray();   // element i's clip, filled with i

    [Fact]
    public async Task A_caption_handed_over_early_should_be_passed_on_before_its_forward_completes_and_emitted_with_the_same_result()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handedOver = new TaskCompletionSource<Ran<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
        EarlyCaptionBatchRunner runner = async (tag, clips, captioned, _) =>
        {
            var captions = Enumerable.Range(0, (int)clips.size(0)).Select(Caption).ToArray();
            captioned(1, captions[1]);          // clip 1 ended first
            await gate.Task;                    // the others still decode
            captioned(0, captions[0]);
            captioned(2, captions[2]);
            return new TaggedResult(tag, captions, null);
        };
        var results = Source.From(Enumerable.Range(0, 3))
            .Via(EngineFlows.RunEach<int>(runner, _ => RouteTag.Caption, i => pixels[i], parallelism: 1, maxBatch: 3,
                maxDelay: TimeSpan.FromSeconds(5), ordered: true, skip: null, early: r => handedOver.TrySetResult(r)))
            .RunWith(Sink.Seq<Ran<int>>(), system.Materializer());

        Ran<int> early;
        try
        {
            early = await handedOver.Task.WaitAsync(Patience);
            Assert.Equal(1, early.Item);
            Assert.Equal("word 1", early.Result!.Caption!.Text);
            Assert.False(results.IsCompleted, "the batch was emitted before its forward completed");
        }
        finally
        {
            gate.TrySetResult();
        }

        var emitted = await results.WaitAsync(Patience);
        Assert.Equal([0, 1, 2], emitted.Select(r => r.Item));
        Assert.Same(early, emitted[1]);
        Assert.All(emitted, r => Assert.Equal($"word {r.Item}", r.Result!.Caption!.Text));
    }

    [Fact]
    public async Task In_order_an_element_should_be_emitted_once_it_and_those_before_it_are_final_without_waiting_for_its_batch()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        EarlyCaptionBatchRunner runner = async (tag, clips, captioned, _) =>
        {
            var captions = Enumerable.Range(0, (int)clips.size(0)).Select(Caption).ToArray();
            captioned(0, captions[0]);
            captioned(2, captions[2]);          // final, but behind clip 1 in order
            await gate.Task;
            captioned(1, captions[1]);
            return new TaggedResult(tag, captions, null);
        };
        var emitted = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var first = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = Source.From(Enumerable.Range(0, 3))
            .Via(EngineFlows.RunEach<int>(runner, _ => RouteTag.Caption, i => pixels[i], parallelism: 1, maxBatch: 3,
                maxDelay: TimeSpan.FromSeconds(5), ordered: true, skip: null, early: null))
            .RunWith(Sink.ForEach<Ran<int>>(r =>
            {
                emitted.Enqueue(r.Item);
                first.TrySetResult(r.Item);
            }), system.Materializer());
        try
        {
            Assert.Equal(0, await first.Task.WaitAsync(Patience));
        }
        finally
        {
            gate.TrySetResult();
        }
        await done.WaitAsync(Patience);
        Assert.Equal([0, 1, 2], emitted);
    }

    [Fact]
    public async Task In_order_a_batch_should_hold_its_slot_until_its_forward_completes_even_when_its_captions_left_early()
    {
        int running = 0, most = 0;
        var mostLock = new object();
        EarlyCaptionBatchRunner runner = async (tag, clips, captioned, _) =>
        {
            int now = Interlocked.Increment(ref running);
            lock (mostLock) most = Math.Max(most, now);
            var captions = Enumerable.Range(0, (int)clips.size(0)).Select(Caption).ToArray();
            for (int i = 0; i < captions.Length; i++) captioned(i, captions[i]);
            await Task.Delay(100);              // the forward goes on after its captions were handed over
            Interlocked.Decrement(ref running);
            return new TaggedResult(tag, captions, null);
        };
        var emitted = await Source.From(Enumerable.Range(0, 6))
            .Via(EngineFlows.RunEach<int>(runner, _ => RouteTag.Caption, i => pixels[i], parallelism: 2, maxBatch: 1,
                maxDelay: TimeSpan.Zero, ordered: true, skip: null, early: null))
            .RunWith(Sink.Seq<Ran<int>>(), system.Materializer()).WaitAsync(Patience);

        Assert.Equal(Enumerable.Range(0, 6), emitted.Select(r => r.Item));
        Assert.InRange(most, 1, 2);
    }

    [Fact]
    public async Task A_group_whose_forward_is_done_should_be_handed_over_while_a_later_group_of_its_batch_still_runs()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handed = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var featuresHanded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Elements 0 and 2 are classified (features, no early captions), 1 and 3 captioned behind the gate.
        EarlyCaptionBatchRunner runner = async (tag, clips, captioned, _) =>
        {
            int n = (int)clips.size(0);
            if (tag == RouteTag.Classification) return new TaggedResult(tag, null, Enumerable.Range(0, n).Select(_ => new[] { 1f }).ToArray());
            await gate.Task;
            return new TaggedResult(tag, Enumerable.Range(0, n).Select(Caption).ToArray(), null);
        };
        var emitted = Source.From(Enumerable.Range(0, 4))
            .Via(EngineFlows.RunEach<int>(runner, i => i % 2 == 0 ? RouteTag.Classification : RouteTag.Caption, i => pixels[i], parallelism: 1,
                maxBatch: 4, maxDelay: TimeSpan.FromSeconds(5), ordered: false, skip: null, early: r =>
                {
                    handed.Enqueue(r.Item);
                    if (handed.Count(i => i % 2 == 0) == 2) featuresHanded.TrySetResult();
                }))
            .RunWith(Sink.Seq<Ran<int>>(), system.Materializer());
        try
        {
            await featuresHanded.Task.WaitAsync(Patience);
            Assert.Equal([0, 2], handed.Order());
            Assert.False(emitted.IsCompleted);
        }
        finally
        {
            gate.TrySetResult();
        }
        var all = await emitted.WaitAsync(Patience);
        Assert.Equal([0, 1, 2, 3], handed.Order());
        Assert.Equal(4, all.Count(r => r.Result is not null));
    }

    [Fact]
    public async Task A_forward_that_fails_after_handing_over_a_caption_should_fail_only_the_elements_without_one()
    {
        EarlyCaptionBatchRunner runner = (tag, clips, captioned, _) =>
        {
            captioned(2, Caption(2));
            throw new InvalidOperationException("the expert group went away mid-batch");
        };
        var emitted = await Source.From(Enumerable.Range(0, 3))
            .Via(EngineFlows.RunEach<int>(runner, _ => RouteTag.Caption, i => pixels[i], parallelism: 1, maxBatch: 3,
                maxDelay: TimeSpan.FromSeconds(5), ordered: true, skip: null, early: null))
            .RunWith(Sink.Seq<Ran<int>>(), system.Materializer()).WaitAsync(Patience);

        Assert.Equal("word 2", emitted[2].Result!.Caption!.Text);
        Assert.Null(emitted[2].Error);
        foreach (var r in emitted.Take(2))
        {
            Assert.Null(r.Result);
            Assert.Contains("went away mid-batch", r.Error!.Message);
        }
    }

    [Fact]
    public async Task The_batcher_should_settle_a_window_whose_caption_is_final_while_the_rest_of_its_batch_still_runs()
    {
        var engine = new GatedEngine();
        await using var batcher = new WindowBatcher(engine, StreamEngine.Settings("upmoe.streams { max-batch = 2, max-delay = 5s }"),
            system.Materializer());
        var stats = new StreamStats();
        stats.WindowsIn.Add(2);
        var first = batcher.SubmitAsync(Window(0), stats, CancellationToken.None);
        var second = batcher.SubmitAsync(Window(1), stats, CancellationToken.None);
        try
        {
            // The engine hands clip 1's caption over and then holds the forward on its gate.
            var outcome = await second.WaitAsync(Patience);
            Assert.True(outcome.Done);
            Assert.Equal("word 1", outcome.Caption!.Text);
            Assert.False(first.IsCompleted, "the window still decoding settled too");
            Assert.Equal(1, stats.Captioned.Value);
            Assert.Equal(1, stats.InFlight);
        }
        finally
        {
            engine.Gate.TrySetResult();             // a failed assertion must not leave the batcher's forward hanging
        }
        Assert.Equal("word 0", (await first.WaitAsync(Patience)).Caption!.Text);
        Assert.Equal(2, stats.Captioned.Value);
        Assert.Equal(0, stats.InFlight);
        Assert.True(stats.Balanced);
    }

    /// <summary>Hands clip 1's caption over at once, the others once <see cref="Gate"/> opens.</summary>
    private sealed class GatedEngine : IWindowEngine
    {
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
        {
            var captions = Enumerable.Range(0, (int)clips.size(0)).Select(Caption).ToArray();
            captioned!(1, captions[1]);
            await Gate.Task;
            captioned(0, captions[0]);
            return new TaggedResult(tag, captions, null);
        }

        public Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation) =>
            throw new NotSupportedException("caption windows only");

        public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
            throw new NotSupportedException("caption windows only");
    }

    private static TokenizedWindow Window(int sequence)
    {
        var window = new FrameWindow("early", sequence, [], System.Diagnostics.Stopwatch.GetTimestamp());
        return new TokenizedWindow(window, [new TaggedWindow(window, Filled(sequence), RouteTag.Caption)]);
    }

    /// <summary>A one-frame clip [1, 3, 2, 2] filled with <paramref name="i"/>.</summary>
    private static Tensor Filled(int i) => TorchScalar.Use((float)i, value => full(1, 3, 2, 2, value));

    private static EngineCaption Caption(int i) =>
        new(new CaptionResult([new CaptionBeam([i, 3], [-1f, 0f], -1f, -1f, 3)]), [$"word {i}"]);

    public void Dispose()
    {
        system.Terminate().Wait();
        foreach (var p in pixels) p.Dispose();
    }
}
