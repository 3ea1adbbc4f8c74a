using System.Collections.Concurrent;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Support;

/// <summary>Wraps a window engine: records every forward's size and route tag and optionally makes each call slower by
/// a fixed delay (an engine that cannot keep up), or fail.</summary>
public sealed class InstrumentedCaptioner(IWindowEngine inner, TimeSpan delay = default, Func<int, Exception?>? failCall = null) : IWindowEngine
{
    private int calls;

    public ConcurrentQueue<int> BatchSizes { get; } = new();

    /// <summary>Every forward's route tag and size, in call order.</summary>
    public ConcurrentQueue<(RouteTag Tag, int Size)> Forwards { get; } = new();

    /// <summary>The longest call, injected delay included (milliseconds).</summary>
    public double MaxCallMs { get; private set; }

    public async Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
    {
        int call = Interlocked.Increment(ref calls);
        BatchSizes.Enqueue((int)clips.shape[0]);
        Forwards.Enqueue((tag, (int)clips.shape[0]));
        if (delay > TimeSpan.Zero) await Task.Delay(delay, cancellation);
        if (failCall?.Invoke(call) is { } error) throw error;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var results = await inner.RunAsync(tag, clips, captioned, cancellation);
        var ms = delay.TotalMilliseconds + System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        lock (BatchSizes) MaxCallMs = Math.Max(MaxCallMs, ms);
        return results;
    }

    public Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation)
    {
        Forwards.Enqueue((tag, texts.Count));
        return inner.RunTextsAsync(tag, texts, cancellation);
    }

    public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
        inner.TargetsAsync(texts, task, scoredAs, cancellation);
}
