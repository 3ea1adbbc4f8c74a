using UniPerceiverMoe.Host.Inputs;
using System.Globalization;
using System.Text.Json;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Cli.Demo;

/// <summary>
/// <c>upmoe demo --task watch</c>: the generated camera through the stream path with standing watch queries. Prints
/// each alert as it comes, next to the scene on screen in its window (✓ for a start on a scene that matches the query,
/// see <see cref="SceneQuery"/>, or a stop on one that does not), then one figures line per query and, last on stdout, all queries together:
/// <c>watch: precision P % (…), recall R % (…)</c> (<see cref="WatchScore"/>).
/// </summary>
public static class WatchDemo
{
    /// <summary>Queries watched when none are given: one of each attribute of the demo grammar (a colour, a shape, an
    /// event, a move) and a colour with a shape. The demo model learned these words as class names; it never learned to
    /// match whole sentences, so full captions ("a red circle moves to the left") alert far less precisely
    /// (docs/benchmarks-training.md).</summary>
    public static IReadOnlyList<string> DefaultQueries { get; } = ["red", "circle", "appears", "moves to the left", "blue square"];

    public static async Task<int> RunAsync(CaptionStreamHub hub, FrameSource camera, IReadOnlyList<SyntheticClip> scenes, StreamTasks tasks, bool json,
        TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var score = new WatchScore(scenes, tasks.Queries.Select(SceneQuery.Parse).ToArray());
        error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"demo: watching {tasks.Queries.Count} queries (threshold {tasks.Threshold}, hysteresis {tasks.Hysteresis}): {string.Join("; ", tasks.Queries)}"));
        var stream = await hub.AddStreamAsync("camera", camera, tasks, EventSinks.Callback(e =>
        {
            if (e is not StreamAlerts alerts) return;
            var scene = score.SceneAt(alerts.Window);
            string truth = scene is null ? "(no scene)" : CaptionGrammar.Caption(scene);
            foreach (var alert in alerts.Alerts)
            {
                // Right: a start while a matching scene is on screen, a stop while a scene that does not match is.
                bool right = score.Observe(alerts.Window, alert) == (alert.Kind == AlertKind.Start);
                if (!json)
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"[{alerts.Start:mm\\:ss\\.f}] alert {EventSinks.Name(alert.Kind),-5} {Quote(alert.Query),-34} {alert.Score,6:F3}  " +
                        $"{(right ? "✓" : "✗")} on screen: {truth}  ({alerts.Latency.TotalMilliseconds:0} ms)"));
            }
            if (json) output.WriteLine(EventSinks.ToJson(alerts));       // one JSON line per event, however many alerts it holds
        }), cancellation).ConfigureAwait(false);
        if (!await DemoStreamEnd.AwaitAsync(stream, error, cancellation).ConfigureAwait(false)) return ExitCodes.Internal;
        cancellation.ThrowIfCancellationRequested();
        error.WriteLine($"demo: {stream.Stats.Snapshot()}");
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                watch = Figures(score.Total()),
                scenes = scenes.Count,
                threshold = tasks.Threshold,
                queries = score.Queries.Select((query, q) => new { query = query.Text, figures = Figures(score.Of(q)) }).ToArray(),
            }));
            return ExitCodes.Ok;
        }
        for (int q = 0; q < score.Queries.Count; q++)
            output.WriteLine($"{Quote(score.Queries[q].Text)}: {score.Of(q)}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"watch: {score.Total()}; {scenes.Count} scenes, {score.Queries.Count} queries, threshold {tasks.Threshold}"));
        return ExitCodes.Ok;
    }

    private static object Figures(WatchFigures f) =>
        new { precision = f.Precision, recall = f.Recall, starts = f.Starts, true_positives = f.TruePositives, episodes = f.Episodes, found = f.Found };

    private static string Quote(string query) => "'" + query + "'";
}
