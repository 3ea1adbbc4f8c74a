using System.Collections.Concurrent;
using UniPerceiverMoe.Actors;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Support;

/// <summary>Records, for every forward, its tag, its size and the attributes the engine's dispatcher asked the
/// expert groups under while it ran (callers run one forward at a time).</summary>
public sealed class RouteObserver(IWindowEngine inner, EngineCounters counters) : IWindowEngine
{
    public ConcurrentQueue<(RouteTag Tag, int Size, IReadOnlyDictionary<MoeAttribute, long> Routed)> Forwards { get; } = new();

    public async Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
    {
        var before = counters.RoutedByAttribute();
        var result = await inner.RunAsync(tag, clips, captioned, cancellation);
        Forwards.Enqueue((tag, (int)clips.shape[0], Delta(before, counters.RoutedByAttribute())));
        return result;
    }

    public async Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation)
    {
        var before = counters.RoutedByAttribute();
        var result = await inner.RunTextsAsync(tag, texts, cancellation);
        Forwards.Enqueue((tag, texts.Count, Delta(before, counters.RoutedByAttribute())));
        return result;
    }

    public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
        inner.TargetsAsync(texts, task, scoredAs, cancellation);

    /// <summary>The attributes whose routed count grew from <paramref name="before"/> to <paramref name="after"/>, by how much.</summary>
    public static IReadOnlyDictionary<MoeAttribute, long> Delta(IReadOnlyDictionary<MoeAttribute, long> before, IReadOnlyDictionary<MoeAttribute, long> after) =>
        after.Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key))).Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value);
}
