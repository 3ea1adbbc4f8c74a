using System.Globalization;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Cli.Demo;

/// <summary>Alert precision and recall of one query or of all together: <see cref="TruePositives"/> of
/// <see cref="Starts"/> alert starts came while a matching scene was on screen; <see cref="Found"/> of
/// <see cref="Episodes"/> ground-truth episodes (runs of consecutive matching scenes) had the alert active in one of
/// their windows.</summary>
public sealed record WatchFigures(int Starts, int TruePositives, int Episodes, int Found)
{
    public double? Precision => Starts == 0 ? null : (double)TruePositives / Starts;
    public double? Recall => Episodes == 0 ? null : (double)Found / Episodes;

    public static WatchFigures operator +(WatchFigures a, WatchFigures b) =>
        new(a.Starts + b.Starts, a.TruePositives + b.TruePositives, a.Episodes + b.Episodes, a.Found + b.Found);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"precision {Percent(Precision)} ({TruePositives} of {Starts} alert starts on a matching scene), " +
        $"recall {Percent(Recall)} ({Found} of {Episodes} matching episodes alerted)");

    private static string Percent(double? v) => v is { } x ? string.Create(CultureInfo.InvariantCulture, $"{100 * x:F1} %") : "n/a";
}

/// <summary>
/// Scores a watch demo run against the scenes the camera played. Window w shows scene w (the demo's window and hop
/// are one clip). Alerts are fed in window order per query (a stream emits its events in window order); a window
/// that was dropped or failed sees no alert change, so the state it had before holds (as on the stream itself).
/// </summary>
public sealed class WatchScore(IReadOnlyList<SyntheticClip> scenes, IReadOnlyList<SceneQuery> queries)
{
    private readonly List<(long Window, AlertKind Kind)>[] transitions = queries.Select(_ => new List<(long, AlertKind)>()).ToArray();

    public IReadOnlyList<SceneQuery> Queries => queries;

    /// <summary>The scene on screen in <paramref name="window"/>, or null past the last one.</summary>
    public SyntheticClip? SceneAt(long window) => window >= 0 && window < scenes.Count ? scenes[(int)window] : null;

    /// <summary>Records <paramref name="alert"/> at <paramref name="window"/>; returns whether a matching scene was on screen.</summary>
    public bool Observe(long window, WatchAlert alert)
    {
        int q = IndexOf(alert.Query);
        lock (transitions[q]) transitions[q].Add((window, alert.Kind));
        return SceneAt(window) is { } scene && queries[q].Matches(scene);
    }

    /// <summary>The figures of query <paramref name="q"/>.</summary>
    public WatchFigures Of(int q)
    {
        var active = new bool[scenes.Count];
        var events = transitions[q].OrderBy(t => t.Window).ToArray();
        bool on = false;
        int next = 0, starts = 0, hits = 0;
        for (int w = 0; w < scenes.Count; w++)
        {
            for (; next < events.Length && events[next].Window == w; next++)
            {
                on = events[next].Kind == AlertKind.Start;
                if (on)
                {
                    starts++;
                    if (queries[q].Matches(scenes[w])) hits++;
                }
            }
            active[w] = on;
        }
        int episodes = 0, found = 0;
        for (int w = 0; w < scenes.Count; w++)
        {
            if (!queries[q].Matches(scenes[w]) || (w > 0 && queries[q].Matches(scenes[w - 1]))) continue;
            episodes++;
            bool seen = false;
            for (int e = w; e < scenes.Count && queries[q].Matches(scenes[e]); e++) seen |= active[e];
            if (seen) found++;
        }
        return new WatchFigures(starts, hits, episodes, found);
    }

    /// <summary>All queries together (sums of their counts).</summary>
    public WatchFigures Total() => Enumerable.Range(0, queries.Count).Select(Of).Aggregate(new WatchFigures(0, 0, 0, 0), (a, b) => a + b);

    private int IndexOf(string query)
    {
        for (int q = 0; q < queries.Count; q++)
            if (queries[q].Text == query) return q;
        throw new ArgumentException($"alert for '{query}', which is not a watched query");
    }
}
