using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Host.Outputs;

// The JSON shapes of task results, shared by `upmoe caption|classify|retrieve --json` and the HTTP task endpoints, so
// both print the same fields for the same result.

/// <summary>One beam in --json output: token ids up to (not including) the first EOS, decoded text, penalised score.</summary>
public sealed record BeamJson(long[] Ids, string Text, float Score)
{
    /// <summary>Every beam of <paramref name="caption"/>, best first, with the text the engine decoded.</summary>
    public static BeamJson[] Of(EngineCaption caption) =>
        caption.Beams.Select((b, i) => new BeamJson(b.Tokens, caption.BeamTexts[i], b.Score)).ToArray();
}

/// <summary>--json output: the best beam's fields, then every beam best first.</summary>
public sealed record CaptionJson(string Input, long[] Ids, string Text, float Score, IReadOnlyList<BeamJson> Beams);

/// <summary>One label: logit = τ·cos (averaged over views), probability = softmax over the label set (averaged over views).</summary>
public sealed record LabelJson(string Label, float Logit, float Probability);

public sealed record ClassifyJson(string Input, float Temperature, int Views, IReadOnlyList<LabelJson> Labels);

/// <summary>One ranked item; <c>Index</c> is its position in the gallery as given.</summary>
public sealed record HitJson(int Rank, int Index, string Item, float Similarity);

public sealed record RetrieveJson(string Query, IReadOnlyList<HitJson> Hits);
