using UniPerceiverMoe.Model.Tasks;

namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>
/// What a stream emits about one of its windows: a caption (<see cref="Flows.StreamCaption"/>), a classification, or
/// watch alerts, or the ranking of the stream's match texts. <see cref="Task"/> names the task (caption, classify,
/// watch, match); <see cref="Latency"/>: from the window's
/// last frame arriving to the event leaving its head.
/// </summary>
public interface IStreamEvent
{
    string StreamId { get; }
    long Window { get; }
    TimeSpan Start { get; }
    TimeSpan End { get; }
    string Task { get; }
    TimeSpan Latency { get; }
}

/// <summary>A window's scores against the stream's label set, best first (probability: the softmax of cos·τ over the
/// labels, as <c>upmoe classify</c> computes it).</summary>
public sealed record StreamClassification(string StreamId, long Window, TimeSpan Start, TimeSpan End, IReadOnlyList<LabelScore> Labels,
    TimeSpan Latency) : IStreamEvent
{
    public string Task => "classify";
}

/// <summary>One query's alert starting or stopping; <see cref="Score"/>: the window's cosine similarity to the query.</summary>
public sealed record WatchAlert(string Query, AlertKind Kind, double Score);

/// <summary>The alerts that start or stop at one window (only windows with at least one are emitted).</summary>
public sealed record StreamAlerts(string StreamId, long Window, TimeSpan Start, TimeSpan End, IReadOnlyList<WatchAlert> Alerts, TimeSpan Latency)
    : IStreamEvent
{
    public string Task => "watch";
}

/// <summary>A window's ranking of the stream's match texts, best first (score: cosine similarity of the window's
/// retrieval features and the text's, as <c>upmoe retrieve --texts-file</c> ranks texts for a clip).</summary>
public sealed record StreamMatches(string StreamId, long Window, TimeSpan Start, TimeSpan End, IReadOnlyList<RetrievalHit> Matches, TimeSpan Latency)
    : IStreamEvent
{
    public string Task => "match";
}

/// <summary>
/// A text of a text feed matched against the remembered windows of the live streams (<see cref="WindowMemory"/>):
/// <see cref="Line"/> counts the feed's texts from 0; <see cref="Windows"/> are the best windows, best first (empty when
/// no window has been seen yet); <see cref="Latency"/>: from the text arriving to its matches leaving.
/// </summary>
public sealed record TextMatch(string Feed, long Line, string Text, IReadOnlyList<WindowHit> Windows, TimeSpan Latency);
