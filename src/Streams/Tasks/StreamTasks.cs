using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>
/// What a stream does with each of its windows; several tasks run on the same windows. <see cref="Caption"/>: a
/// caption per window; <see cref="Labels"/> (non-empty: task <c>classify</c>): scores of the window against the label
/// set; <see cref="Queries"/> (non-empty: task <c>watch</c>): standing text queries whose alerts start when a window's
/// score reaches <see cref="Threshold"/> and stop when it falls below <see cref="Threshold"/> − <see cref="Hysteresis"/>;
/// <see cref="MatchTexts"/> (non-empty: task <c>match</c>): a ranking of those texts for each window, as
/// <c>upmoe retrieve --texts-file</c> ranks them for a clip; <see cref="RememberWindows"/>: the stream's windows are
/// kept for a text feed to be matched against (<see cref="WindowMemory"/>; also task <c>match</c>).
/// The tokenize stage encodes a window once per distinct <see cref="Tags"/> entry: classify, watch and match share one.
/// </summary>
public sealed record StreamTasks
{
    public bool Caption { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    public IReadOnlyList<string> Queries { get; init; } = [];
    public IReadOnlyList<string> MatchTexts { get; init; } = [];
    public bool RememberWindows { get; init; }
    public double Threshold { get; init; }
    public double Hysteresis { get; init; }

    public bool Classify => Labels.Count > 0;
    public bool Watch => Queries.Count > 0;
    public bool Match => MatchTexts.Count > 0 || RememberWindows;

    /// <summary>Captioning only (the caption streams of <see cref="CaptionStreamHub.AddStream(string, Sources.FrameSource, Akka.Streams.Dsl.Sink{Flows.StreamCaption, Task})"/>).</summary>
    public static StreamTasks CaptionOnly { get; } = new() { Caption = true };

    /// <summary>Task names as the command line and the HTTP API spell them, in output order.</summary>
    public IReadOnlyList<string> Names =>
        new[] { (Caption, "caption"), (Classify, "classify"), (Watch, "watch"), (Match, "match") }.Where(t => t.Item1).Select(t => t.Item2).ToArray();

    /// <summary>The route tag of each task this stream runs, distinct: the forwards one window needs.</summary>
    public IReadOnlyList<RouteTag> Tags =>
        new[] { (Caption, RouteTag.Caption), (Classify, RouteTag.Classification), (Watch || Match, RouteTag.Retrieval) }
            .Where(t => t.Item1).Select(t => t.Item2).Distinct().ToArray();

    /// <summary>Checks the tasks; the message names what is wrong.</summary>
    public StreamTasks Validate()
    {
        if (!Caption && !Classify && !Watch && !Match)
            throw new ArgumentException("a stream needs at least one task: caption, classify (labels), watch (queries) or match (texts or a text feed).");
        if (Labels.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("a classify label is empty.");
        if (Queries.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("a watch query is empty.");
        if (Labels.Distinct(StringComparer.Ordinal).Count() != Labels.Count) throw new ArgumentException("classify labels must be distinct.");
        if (Queries.Distinct(StringComparer.Ordinal).Count() != Queries.Count) throw new ArgumentException("watch queries must be distinct.");
        if (MatchTexts.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("a match text is empty.");
        if (MatchTexts.Distinct(StringComparer.Ordinal).Count() != MatchTexts.Count) throw new ArgumentException("match texts must be distinct.");
        if (Watch && Threshold is < -1 or > 1) throw new ArgumentException($"watch threshold {Threshold} is not a cosine similarity (-1..1).");
        if (Watch && Hysteresis < 0) throw new ArgumentException($"watch hysteresis {Hysteresis} is negative.");
        return this;
    }

    /// <summary>Tasks from their names (<c>caption</c>, <c>classify</c>, <c>watch</c>, <c>match</c>) with the watch threshold and
    /// hysteresis of <paramref name="settings"/> unless given. Task match takes <paramref name="matchTexts"/> (each
    /// window ranks them), a text feed (<paramref name="textFeed"/>: the windows are remembered for it), or both.</summary>
    public static StreamTasks Parse(IEnumerable<string> names, IReadOnlyList<string> labels, IReadOnlyList<string> queries, StreamSettings settings,
        double? threshold = null, IReadOnlyList<string>? matchTexts = null, bool textFeed = false)
    {
        matchTexts ??= [];
        var set = names.Select(n => n.Trim().ToLowerInvariant()).Where(n => n.Length > 0).ToHashSet();
        foreach (var n in set)
            if (n is not ("caption" or "classify" or "watch" or "match"))
                throw new ArgumentException($"unknown stream task '{n}' (expected caption, classify, watch or match).");
        if (set.Contains("classify") && labels.Count == 0) throw new ArgumentException("task classify needs labels.");
        if (set.Contains("watch") && queries.Count == 0) throw new ArgumentException("task watch needs at least one query.");
        if (set.Contains("match") && matchTexts.Count == 0 && !textFeed) throw new ArgumentException("task match needs texts to rank or a text feed.");
        if (!set.Contains("classify") && labels.Count > 0) throw new ArgumentException("labels were given, but not task classify.");
        if (!set.Contains("watch") && queries.Count > 0) throw new ArgumentException("queries were given, but not task watch.");
        if (!set.Contains("match") && (matchTexts.Count > 0 || textFeed)) throw new ArgumentException("match texts or a text feed were given, but not task match.");
        return new StreamTasks
        {
            Caption = set.Contains("caption"),
            Labels = set.Contains("classify") ? labels.Select(l => l.Trim()).ToArray() : [],
            Queries = set.Contains("watch") ? queries.Select(q => q.Trim()).ToArray() : [],
            MatchTexts = set.Contains("match") ? matchTexts.Select(t => t.Trim()).ToArray() : [],
            RememberWindows = set.Contains("match") && textFeed,
            Threshold = threshold ?? settings.WatchThreshold,
            Hysteresis = settings.WatchHysteresis,
        }.Validate();
    }
}
