using TorchSharp;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tasks;

/// <summary>
/// The zero-shot tasks as the reference computes them (reference §4): every task compares normalised spe features
/// of an input and of targets. Stateless; callers own every returned tensor.
/// </summary>
public static class UniPerceiverTasks
{
    /// <summary>Target text length caps of the zero-shot configs (COCO/Flickr retrieval 30; class names are short).</summary>
    public const int MaxTargetTokens = 30;

    /// <summary>Normalised features [B, D] of visual inputs pixels [B, T, 3, S, S] encoded with <paramref name="attribute"/>.</summary>
    public static Tensor VisualFeatures(UniPerceiverRunner runner, Tensor pixels, MoeAttribute attribute)
    {
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.size(1), attribute));
        return runner.SpeFeature(encoded.Final);
    }

    /// <summary>
    /// Normalised features [n, D] of token sequences (already ending in &lt;|endoftext|&gt;), right-padded with id 0
    /// and masked (-10000 on padded keys) as the reference collator does; encoded in batches of <paramref name="batchSize"/>.
    /// </summary>
    public static Tensor TextFeatures(UniPerceiverRunner runner, IReadOnlyList<IReadOnlyList<int>> sequences, MoeAttribute attribute, int batchSize = 256)
    {
        if (sequences.Count == 0) throw new ArgumentException("no texts to encode.");
        var parts = new List<Tensor>();
        try
        {
            for (int start = 0; start < sequences.Count; start += batchSize)
            {
                var batch = sequences.Skip(start).Take(batchSize).ToArray();
                int length = batch.Max(s => s.Count);
                if (length == 0) throw new ArgumentException("a text encoded to no tokens.");
                var ids = new long[batch.Length * length];
                var pad = new long[batch.Length * length];
                for (int i = 0; i < batch.Length; i++)
                    for (int j = 0; j < length; j++)
                    {
                        bool real = j < batch[i].Count;
                        ids[i * length + j] = real ? batch[i][j] : 0;
                        pad[i * length + j] = real ? 0 : 1;
                    }
                using var idTensor = tensor(ids, [batch.Length, length]);
                using var padTensor = tensor(pad, [batch.Length, length]);
                using var x = runner.EmbedText(idTensor);
                using var bias = runner.KeyBiasForPadding(padTensor);
                using var encoded = runner.Encode(x, TokenRouting.Uniform(length + 1, attribute), bias);
                parts.Add(runner.SpeFeature(encoded.Final));
            }
            return parts.Count == 1 ? parts[0].alias() : cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// Classification of one input given as views [V, T, 3, S, S] (V = 1 for images; the K400 protocol averages the
    /// per-view softmax). <paramref name="labelFeatures"/> [C, D] are normalised class-name features.
    /// </summary>
    public static ClassificationResult Classify(UniPerceiverRunner runner, Tensor views, Tensor labelFeatures,
        IReadOnlyList<string> labels, string temperature)
    {
        if (labels.Count != labelFeatures.size(0)) throw new ArgumentException($"{labels.Count} labels but {labelFeatures.size(0)} label features.");
        float tau = runner.Model.Head.Temperature(temperature);
        using var _ = no_grad();
        using var features = VisualFeatures(runner, views, MoeAttribute.VisualInput);       // [V, D]
        return ScoreLabels(features, labelFeatures, labels, tau);
    }

    /// <summary>
    /// The classification head: scores of one input's view features [V, D] (normalised) against
    /// <paramref name="labelFeatures"/> [C, D]: logits cos·τ per view, the per-view softmax averaged over views (the
    /// K400 protocol), labels sorted by probability. Streams call it on features their batcher encoded.
    /// </summary>
    public static ClassificationResult ScoreLabels(Tensor features, Tensor labelFeatures, IReadOnlyList<string> labels, float tau)
    {
        if (labels.Count != labelFeatures.size(0)) throw new ArgumentException($"{labels.Count} labels but {labelFeatures.size(0)} label features.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var logits = TorchScalar.Use(tau, t => features.matmul(labelFeatures.to(features.device).t()).mul_(t)); // [V, C]
        using var probs = logits.softmax(-1).mean([0L]);
        using var meanLogits = logits.mean([0L]);
        var p = probs.cpu().data<float>().ToArray();
        var l = meanLogits.cpu().data<float>().ToArray();
        var scores = labels.Select((label, i) => new LabelScore(label, l[i], p[i])).OrderByDescending(s => s.Probability).ToArray();
        return new ClassificationResult(scores, tau, (int)features.size(0));
    }

    /// <summary>Ranks <paramref name="gallery"/> [n, D] by cosine similarity to <paramref name="query"/> [D] or [1, D].</summary>
    public static RetrievalResult Rank(Tensor query, Tensor gallery, IReadOnlyList<string> items)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var q = query.reshape(1, -1);
        using var sims = gallery.to(q.device).matmul(q.t()).squeeze(1);
        var s = sims.cpu().data<float>().ToArray();
        return new RetrievalResult(items.Select((item, i) => new RetrievalHit(i, item, s[i])).OrderByDescending(h => h.Similarity).ToArray());
    }

    /// <summary>Rows of a [n, D] float tensor as host arrays (read once; results leave the engine this way, so the
    /// actors' expert path never reads tensor memory itself).</summary>
    public static float[][] Rows(Tensor features)
    {
        using var scope = NewDisposeScope();   // holds the chain's temporaries: none can be finalized mid-call
        var host = features.to(ScalarType.Float32).cpu().contiguous();
        var all = host.data<float>().ToArray();
        int n = (int)host.size(0), d = (int)host.size(1);
        return Enumerable.Range(0, n).Select(i => all.AsSpan(i * d, d).ToArray()).ToArray();
    }
}
