using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>
/// The text targets a stream's heads score its windows against, encoded once before the stream starts: the classify
/// labels (class-name features, τ of video classification), the watch queries and the match texts (retrieval-target
/// features, τ of video retrieval). Each is null exactly when its task does not run; <see cref="Memory"/> is where a
/// stream that a text feed matches against remembers its windows (null when none does).
/// </summary>
public sealed record StreamTargets(TextTargets? Labels = null, TextTargets? Queries = null, TextTargets? MatchTexts = null, WindowMemory? Memory = null)
{
    /// <summary>No targets: a caption-only stream.</summary>
    public static StreamTargets None { get; } = new();

    /// <summary>Checks that every task of <paramref name="tasks"/> has its targets (and no others are given).</summary>
    public StreamTargets CheckFits(StreamTasks tasks)
    {
        Need(tasks.Classify, Labels, "task classify needs its label targets.");
        Need(tasks.Watch, Queries, "task watch needs its query targets.");
        Need(tasks.MatchTexts.Count > 0, MatchTexts, "task match needs the targets of its texts.");
        Need(tasks.RememberWindows, Memory, "task match with a text feed needs the window memory the feed reads.");
        return this;
    }

    private static void Need(bool runs, object? target, string message)
    {
        if (runs && target is null) throw new ArgumentException(message);
    }
}
