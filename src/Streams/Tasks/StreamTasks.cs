using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>
/// What a stream does with each of its windows; several tasks run on the same windows. <see cref="Caption"/>: a
/// caption per window; <see cref="Labels"/> (non-empty: task <c>classify</c>): scores of the window against the label
/// set; <see cref="Queries"/> (non-empty: task <c>watch</c>): standing text queries whose alerts start when a window's
/// score reaches <see cref="Threshold"/> and stop when it falls below <see cref="Threshold"/> − <see cref="Hysteresis"/>.
/// The tokenize stage encodes a window once per distinct <see cref="Tags"/> entry: classify and watch share one.
/// </summary>
public sealed record StreamTasks
{
    public bool Caption { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    public IReadOnlyList<string> Queries { get; init; } = [];
    public double Threshold { get; init; }
    public double Hysteresis { get; init; }

    public bool Classify => Labels.Count > 0;
    public bool Watch => Queries.Count > 0;

    /// <summary>Captioning only (the caption streams of <see cref="CaptionStreamHub.AddStream(string, Sources.FrameSource, Akka.Streams.Dsl.Sink{Flows.StreamCaption, Task})"/>).</summary>
    public static StreamTasks CaptionOnly { get; } = new() { Caption = true };

    /// <summary>Task names as the command line and the HTTP API spell them, in output order.</summary>
    public IReadOnlyList<string> Names =>
        [.. Caption ? ["caption"] : Array.Empty<string>(), .. Classify ? ["classify"] : Array.Empty<string>(), .. Watch ? ["watch"] : Array.Empty<string>()];

    /// <summary>The route tag of each task this stream runs, distinct: the forwards one window needs.</summary>
    public IReadOnlyList<RouteTag> Tags =>
        new[] { (Caption, RouteTag.Caption), (Classify, RouteTag.Classification), (Watch, RouteTag.Retrieval) }
            .Where(t => t.Item1).Select(t => t.Item2).Distinct().ToArray();

    /// <summary>Checks the tasks; the message names what is wrong.</summary>
    public StreamTasks Validate()
    {
        if (!Caption && !Classify && !Watch) throw new ArgumentException("a stream needs at least one task: caption, classify (labels) or watch (queries).");
        if (Labels.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("a classify label is empty.");
        if (Queries.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("a watch query is empty.");
        if (Labels.Distinct(StringComparer.Ordinal).Count() != Labels.Count) throw new ArgumentException("classify labels must be distinct.");
        if (Queries.Distinct(StringComparer.Ordinal).Count() != Queries.Count) throw new ArgumentException("watch queries must be distinct.");
        if (Watch && Threshold is < -1 or > 1) throw new ArgumentException($"watch threshold {Threshold} is not a cosine similarity (-1..1).");
        if (Watch && Hysteresis < 0) throw new ArgumentException($"watch hysteresis {Hysteresis} is negative.");
        return this;
    }

    /// <summary>Tasks from their names (<c>caption</c>, <c>classify</c>, <c>watch</c>) with the watch threshold and
    /// hysteresis of <paramref name="settings"/> unless given.</summary>
    public static StreamTasks Parse(IEnumerable<string> names, IReadOnlyList<string> labels, IReadOnlyList<string> queries, StreamSettings settings,
        double? threshold = null)
    {
        var set = names.Select(n => n.Trim().ToLowerInvariant()).Where(n => n.Length > 0).ToHashSet();
        foreach (var n in set)
            if (n is not ("caption" or "classify" or "watch")) throw new ArgumentException($"unknown stream task '{n}' (expected caption, classify or watch).");
        if (set.Contains("classify") && labels.Count == 0) throw new ArgumentException("task classify needs labels.");
        if (set.Contains("watch") && queries.Count == 0) throw new ArgumentException("task watch needs at least one query.");
        if (!set.Contains("classify") && labels.Count > 0) throw new ArgumentException("labels were given, but not task classify.");
        if (!set.Contains("watch") && queries.Count > 0) throw new ArgumentException("queries were given, but not task watch.");
        return new StreamTasks
        {
            Caption = set.Contains("caption"),
            Labels = set.Contains("classify") ? labels.Select(l => l.Trim()).ToArray() : [],
            Queries = set.Contains("watch") ? queries.Select(q => q.Trim()).ToArray() : [],
            Threshold = threshold ?? settings.WatchThreshold,
            Hysteresis = settings.WatchHysteresis,
        }.Validate();
    }
}
