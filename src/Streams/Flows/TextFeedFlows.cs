using System.Diagnostics;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>One text of a text feed after the tokenize stage: its line number, its text and the route tag every token
/// of it is encoded under; <see cref="Arrived"/> (Stopwatch ticks) starts its latency.</summary>
public sealed record FeedText(long Line, string Text, RouteTag Tag, long Arrived);

/// <summary>
/// A text feed matched against live windows (task match with a text feed): lines → tokenize (each text tagged
/// <see cref="RouteTag.Text"/>: text tokens under the text-target attribute) → micro-batch (texts that arrive within
/// max-delay, at most max-batch, and only texts of one tag share a forward) → the engine's tagged forward
/// (<see cref="IWindowEngine.RunTextsAsync"/>, which dispatches by that tag) → the best remembered windows of the
/// streams (<see cref="WindowMemory"/>) for each text, in feed order.
/// </summary>
public static class TextFeedFlows
{
    /// <summary>Numbers and tags each non-empty line (the tokenize stage of a text feed).</summary>
    public static Flow<string, FeedText, NotUsed> Tokenize() =>
        Flow.Create<string>()
            .Select(line => line.Trim())
            .Where(line => line.Length > 0)
            .ZipWithIndex()
            .Select(p => new FeedText(p.Item2, p.Item1, RouteTag.Text, Stopwatch.GetTimestamp()));

    /// <summary>The whole feed after its source: tokenize, batch by tag, encode, match against <paramref name="memory"/>.</summary>
    public static Flow<string, TextMatch, NotUsed> Match(string feed, IWindowEngine engine, WindowMemory memory, StreamSettings settings) =>
        Tokenize()
            .GroupedWithin(settings.MaxBatch, settings.MaxDelay)
            .SelectAsync(1, async batch => await EncodeByTagAsync(engine, batch.ToArray()).ConfigureAwait(false))
            .SelectMany(encoded => encoded)
            .Select(e => new TextMatch(feed, e.Text.Line, e.Text.Text, memory.Match(e.Features, settings.MatchTop),
                Stopwatch.GetElapsedTime(e.Text.Arrived)));

    /// <summary>One engine forward per distinct tag of <paramref name="batch"/> (texts of different tags never share
    /// one); the features come back in the batch's order.</summary>
    public static async Task<IReadOnlyList<(FeedText Text, float[] Features)>> EncodeByTagAsync(IWindowEngine engine, IReadOnlyList<FeedText> batch,
        CancellationToken cancellation = default)
    {
        var features = new float[batch.Count][];
        foreach (var group in batch.Select((t, i) => (t, i)).GroupBy(x => x.t.Tag))
        {
            var members = group.ToArray();
            var result = await engine.RunTextsAsync(group.Key, members.Select(m => m.t.Text).ToArray(), cancellation).ConfigureAwait(false);
            if (result.Tag != group.Key || result.Features is not { } rows || rows.Count != members.Length)
                throw new InvalidOperationException($"the engine answered a {group.Key} forward of {members.Length} texts with {result.Count} {result.Tag} results.");
            for (int k = 0; k < members.Length; k++) features[members[k].i] = rows[k];
        }
        return batch.Select((t, i) => (t, features[i])).ToArray();
    }
}
