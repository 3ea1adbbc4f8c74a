using System.Globalization;
using System.Text.Json;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Where a multi-task stream's events go (captions, classifications, alerts). Like <see cref="CaptionSinks"/>,
/// each sink's task completes when the stream has ended, and writers shared between streams are written under a lock.</summary>
public static class EventSinks
{
    /// <summary>One human-readable line per event.</summary>
    public static Sink<IStreamEvent, Task> Console(TextWriter output) => TextLineSinks.Lines<IStreamEvent>(output, Format);

    /// <summary>One JSON object per event: <c>{"stream", "window", "task", "start_s", "end_s", "latency_ms"}</c> and, by
    /// task, <c>"caption"</c> (with <c>"score"</c>), <c>"labels": [{"label", "score"}]</c> (best first) or
    /// <c>"alerts": [{"query", "event": "start"|"stop", "score"}]</c> or <c>"matches": [{"text", "score"}]</c>.</summary>
    public static Sink<IStreamEvent, Task> JsonLines(TextWriter output) => TextLineSinks.Lines<IStreamEvent>(output, ToJson);

    /// <summary>Calls <paramref name="onEvent"/> for each event, in order, one at a time.</summary>
    public static Sink<IStreamEvent, Task> Callback(Action<IStreamEvent> onEvent) =>
        Sink.ForEach(onEvent).MapMaterializedValue(t => (Task)t);

    public static string ToJson(IStreamEvent e)
    {
        var o = new Dictionary<string, object?>
        {
            ["stream"] = e.StreamId,
            ["window"] = e.Window,
            ["task"] = e.Task,
            ["start_s"] = Math.Round(e.Start.TotalSeconds, 3),
            ["end_s"] = Math.Round(e.End.TotalSeconds, 3),
        };
        switch (e)
        {
            case StreamCaption c:
                o["caption"] = c.Text;
                o["score"] = c.Score;
                // The caption stream's original fields (CaptionSinks.JsonLines), so caption consumers read either.
                o["text"] = c.Text;
                o["frames"] = c.FrameIndices;
                o["ids"] = c.Ids;
                break;
            case StreamClassification c:
                o["labels"] = c.Labels.Select(l => new { label = l.Label, score = l.Probability }).ToArray();
                break;
            case StreamAlerts a:
                o["alerts"] = a.Alerts.Select(x => new { query = x.Query, @event = Name(x.Kind), score = Math.Round(x.Score, 6) }).ToArray();
                break;
            case StreamMatches m:
                o["matches"] = m.Matches.Select(h => new { text = h.Item, score = h.Similarity }).ToArray();
                break;
        }
        o["latency_ms"] = Math.Round(e.Latency.TotalMilliseconds, 1);
        return JsonSerializer.Serialize(o);
    }

    public static string Format(IStreamEvent e)
    {
        string what = e switch
        {
            StreamCaption c => c.Text,
            StreamClassification c => string.Join(", ", c.Labels.Take(3).Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Label} {l.Probability:F3}"))),
            StreamAlerts a => string.Join("; ", a.Alerts.Select(x => string.Create(CultureInfo.InvariantCulture, $"alert {Name(x.Kind)} '{x.Query}' ({x.Score:F3})"))),
            StreamMatches m => string.Join(", ", m.Matches.Take(3).Select(h => string.Create(CultureInfo.InvariantCulture, $"'{h.Item}' {h.Similarity:F3}"))),
            _ => e.ToString() ?? "",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"[{e.StreamId}] {TextLineSinks.Clock(e.Start)}-{TextLineSinks.Clock(e.End)} {e.Task}: {what} (latency {e.Latency.TotalMilliseconds:F0} ms)");
    }

    /// <summary>One human-readable line per text of a text feed, with its best windows.</summary>
    public static Sink<TextMatch, Task> TextMatchConsole(TextWriter output) => TextLineSinks.Lines<TextMatch>(output, Format);

    /// <summary>One JSON object per text of a text feed: <c>{"stream": feed, "window": null, "task": "match", "line",
    /// "text", "windows": [{"stream", "window", "start_s", "end_s", "score"}] (best first), "latency_ms"}</c>.</summary>
    public static Sink<TextMatch, Task> TextMatchJsonLines(TextWriter output) => TextLineSinks.Lines<TextMatch>(output, ToJson);

    public static string ToJson(TextMatch m) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["stream"] = m.Feed,
        ["window"] = null,
        ["task"] = "match",
        ["line"] = m.Line,
        ["text"] = m.Text,
        ["windows"] = m.Windows.Select(h => new
        {
            stream = h.Window.StreamId,
            window = h.Window.Window,
            start_s = Math.Round(h.Window.Start.TotalSeconds, 3),
            end_s = Math.Round(h.Window.End.TotalSeconds, 3),
            score = Math.Round(h.Score, 6),
        }).ToArray(),
        ["latency_ms"] = Math.Round(m.Latency.TotalMilliseconds, 1),
    });

    public static string Format(TextMatch m)
    {
        string windows = m.Windows.Count == 0 ? "no window seen yet" : string.Join(", ", m.Windows.Select(h =>
            string.Create(CultureInfo.InvariantCulture, $"[{h.Window.StreamId}] {TextLineSinks.Clock(h.Window.Start)}-{TextLineSinks.Clock(h.Window.End)} {h.Score:F3}")));
        return string.Create(CultureInfo.InvariantCulture, $"[{m.Feed}] line {m.Line} match '{m.Text}': {windows} (latency {m.Latency.TotalMilliseconds:F0} ms)");
    }

    public static string Name(AlertKind kind) => kind == AlertKind.Start ? "start" : "stop";
}
