using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>The task heads of a stream, on top of its windows' tagged forwards: one forward per route tag, every head
/// of the stream reading the features of its own tag (classify and watch share the visual-input encoding).</summary>
public static class TaskFlows
{
    /// <summary>
    /// Done windows → events, in window order: a caption (skipped when <paramref name="smoothing"/> and its text
    /// repeats the previous one), a classification against the label targets, the watch alerts that start or stop at
    /// the window (each query's hysteresis state lives per materialization), and the ranking of the match texts; a
    /// window a text feed matches against is remembered in <see cref="StreamTargets.Memory"/>. Failed and dropped
    /// windows are already counted and end here; each done window's end-to-end latency is recorded once.
    /// </summary>
    public static Flow<WindowOutcome, IStreamEvent, NotUsed> Heads(StreamTasks tasks, StreamTargets targets, StreamStats stats, bool smoothing)
    {
        targets.CheckFits(tasks);
        var (labels, queries) = (targets.Labels, targets.Queries);
        return Flow.Create<WindowOutcome>()
            .Where(o => o.Done)
            .StatefulSelectMany<WindowOutcome, WindowOutcome, IStreamEvent, NotUsed>(() =>
            {
                string? previousCaption = null;
                var watches = tasks.Queries.Select(_ => new WatchState(tasks.Threshold, tasks.Hysteresis)).ToArray();
                return o =>
                {
                    var latency = CaptionFlows.LatencyOf(o);
                    stats.Latency.Record(latency);
                    var events = new List<IStreamEvent>(4);
                    if (tasks.Caption)
                    {
                        var caption = CaptionFlows.ToStreamCaption(o, latency);
                        if (!smoothing || caption.Text != previousCaption) events.Add(caption);
                        previousCaption = caption.Text;
                    }
                    if (tasks.Classify)
                    {
                        var scores = Classify(o.FeaturesOf(RouteTag.Classification), labels!);
                        events.Add(new StreamClassification(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End, scores.Labels, latency));
                    }
                    if (tasks.Watch)
                    {
                        var features = o.FeaturesOf(RouteTag.Retrieval);
                        var alerts = new List<WatchAlert>();
                        for (int q = 0; q < watches.Length; q++)
                        {
                            double score = Cosine(features, queries!.Features[q]);
                            if (watches[q].Observe(score) is { } kind) alerts.Add(new WatchAlert(tasks.Queries[q], kind, score));
                        }
                        if (alerts.Count > 0) events.Add(new StreamAlerts(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End, alerts, latency));
                    }
                    if (tasks.Match)
                    {
                        var features = o.FeaturesOf(RouteTag.Retrieval);
                        if (targets.MatchTexts is { } texts)
                            events.Add(new StreamMatches(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End, Rank(features, texts).Hits, latency));
                        targets.Memory?.Remember(new RememberedWindow(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End, features));
                    }
                    return (IEnumerable<IStreamEvent>)events;
                };
            });
    }

    /// <summary>The classification head (<see cref="UniPerceiverTasks.ScoreLabels"/>, the code <c>upmoe classify</c>
    /// runs) on one window's visual-input features.</summary>
    public static ClassificationResult Classify(float[] features, TextTargets labels)
    {
        using var f = tensor(features, [1, features.Length]);
        using var targets = labels.ToTensor();
        return UniPerceiverTasks.ScoreLabels(f, targets, labels.Texts, labels.Temperature);
    }

    /// <summary>The retrieval ranking (<see cref="UniPerceiverTasks.Rank"/>, the code <c>upmoe retrieve --texts-file</c>
    /// runs) of <paramref name="texts"/> for one window's visual-input features.</summary>
    public static RetrievalResult Rank(float[] features, TextTargets texts)
    {
        using var f = tensor(features, [1, features.Length]);
        using var gallery = texts.ToTensor();
        return UniPerceiverTasks.Rank(f, gallery, texts.Texts);
    }

    /// <summary>Cosine similarity of two normalised feature rows (their dot product).</summary>
    public static double Cosine(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"features of width {a.Length} and {b.Length} cannot be compared.");
        double dot = 0;
        for (int i = 0; i < a.Length; i++) dot += (double)a[i] * b[i];
        return dot;
    }
}
