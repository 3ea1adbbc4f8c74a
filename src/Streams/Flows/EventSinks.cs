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
    /// <c>"alerts": [{"query", "event": "start"|"stop", "score"}]</c>.</summary>
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
            _ => e.ToString() ?? "",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"[{e.StreamId}] {TextLineSinks.Clock(e.Start)}-{TextLineSinks.Clock(e.End)} {e.Task}: {what} (latency {e.Latency.TotalMilliseconds:F0} ms)");
    }

    public static string Name(AlertKind kind) => kind == AlertKind.Start ? "start" : "stop";
}
