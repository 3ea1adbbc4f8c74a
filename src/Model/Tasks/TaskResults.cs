namespace UniPerceiverMoe.Model.Tasks;

/// <summary>One label's score: logit = τ·cos, probability = softmax over the label set (averaged over views).</summary>
public sealed record LabelScore(string Label, float Logit, float Probability);

/// <summary>Labels sorted by probability, highest first.</summary>
public sealed record ClassificationResult(IReadOnlyList<LabelScore> Labels, float Temperature, int Views)
{
    public LabelScore Top => Labels[0];
}

/// <summary>One gallery item's cosine similarity to the query.</summary>
public sealed record RetrievalHit(int Index, string Item, float Similarity);

/// <summary>Gallery items sorted by similarity, highest first.</summary>
public sealed record RetrievalResult(IReadOnlyList<RetrievalHit> Hits);
