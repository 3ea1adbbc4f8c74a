// The two training objectives of the demo, formulated as the reference trains them: captioning with the doubled
// sequence (image_text_pair.py package_item) and video classification against class-name targets.
using TorchSharp;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>Loss of one step. <see cref="Total"/> carries the graph (lives in the step's dispose scope); the rest are values.</summary>
public sealed record DemoLosses(Tensor Total, float Caption, float Classification, float CaptionTokenAccuracy, float[] LabelAccuracies)
{
    /// <summary>Mean accuracy over the label sets (shape, colour, action) on this batch.</summary>
    public float LabelAccuracy => LabelAccuracies.Average();
}

/// <summary>
/// Captioning: [spe, visual, w_0..w_{n−1}, q_0..q_{n−1} (all &lt;|spe|&gt;)], both halves at positions 0..n−1,
/// <see cref="CaptionAttentionMask"/>, MoE rows CaptionVisual (spe + visual) / CaptionText (words and queries);
/// q_i's feature predicts w_i with τ_caption·cos against the bank (corpus words + random distractor words, re-encoded
/// with gradients every step). Classification: [spe, visual] with the VisualInput attribute, τ_video_cls·cos against
/// each class-name set (ClassNameTarget attribute); one cross-entropy per set. Total = caption + mean of the sets.
/// </summary>
public sealed class DemoObjective
{
    private readonly UniPerceiverMoeModel model;
    private readonly DemoCorpus corpus;

    public DemoObjective(UniPerceiverMoeModel model, DemoCorpus corpus)
    {
        this.model = model;
        this.corpus = corpus;
    }

    /// <summary>Both losses for <paramref name="batch"/>. Call inside a dispose scope; <paramref name="distractors"/> are
    /// extra bank words (never targets) so the model also learns to reject words outside the corpus.</summary>
    public DemoLosses Compute(DemoBatch batch, IMoeLinearExecutor executor, IReadOnlyList<long> distractors)
    {
        var device = model.Head.parameters().First().device;
        long b = batch.Pixels.size(0);
        int n = batch.WordCount;
        var visual = model.VideoEmbed.Forward(batch.Pixels.to(device), model.TokenEmbed.Norm);     // [B, T·P, D]
        var prefix = TrainingEncoder.PrefixSpe(model, visual);                                       // [B, 1 + T·P, D]
        int p = (int)prefix.size(1);

        // Captioning.
        var positions = TorchScalar.Arange(n, device);
        var words = model.TokenEmbed.Forward(batch.Words.to(device), positions);                     // [B, n, D]
        var queries = model.TokenEmbed.Forward(TorchScalar.Use(UniPerceiverRunner.SpeId, spe => full(b, n, spe, ScalarType.Int64, device: device)), positions);
        var x = cat([prefix, words, queries], 1);                                                    // [B, P + 2n, D]
        var mask = CaptionAttentionMask.Build(p, n, model.Config.MaskValue, device);                 // [1, 1, N, N]
        var routing = TokenRouting.Split(p + 2 * n, p, MoeAttribute.CaptionVisual, MoeAttribute.CaptionText);
        var h = TrainingEncoder.Encode(model, executor, x, routing, mask);
        var queryFeatures = model.Head.Project(h.narrow(1, p + n, n));                               // [B, n, D]
        var bank = TrainingEncoder.BankRows(model, executor, corpus.WordIds.Concat(distractors).ToArray()); // [V', D]
        var logits = queryFeatures.matmul(bank.t()).mul(TrainingEncoder.Temperature(model, "caption")); // [B, n, V']
        var targets = batch.Targets.to(device).view(-1);
        var captionLoss = nn.functional.cross_entropy(logits.view(b * n, -1), targets, ignore_index: DemoBatch.IgnoreIndex);
        float tokenAccuracy;
        using (no_grad())
        {
            var real = TorchScalar.Use(DemoBatch.IgnoreIndex, ignore => targets.ne(ignore));
            var hit = logits.view(b * n, -1).argmax(-1).eq(targets).logical_and(real);
            tokenAccuracy = hit.sum().item<long>() / (float)real.sum().item<long>();
        }

        // Classification.
        var clsH = TrainingEncoder.Encode(model, executor, prefix, TokenRouting.Uniform(p, MoeAttribute.VisualInput));
        var feature = model.Head.Project(clsH.select(1, 0));                                         // [B, D]
        var tau = TrainingEncoder.Temperature(model, "video_cls");
        var labels = batch.Labels.to(device);
        Tensor clsLoss = zeros(1, device: device).squeeze();
        var accuracies = new float[corpus.LabelSets.Count];
        for (int s = 0; s < corpus.LabelSets.Count; s++)
        {
            var set = corpus.LabelSets[s];
            var targetsOfSet = TrainingEncoder.TextFeatures(model, executor,
                set.TargetIds.Select(t => (IReadOnlyList<long>)t.Select(i => (long)i).ToArray()).ToArray(), MoeAttribute.ClassNameTarget);
            var setLogits = feature.matmul(targetsOfSet.t()).mul(tau);                               // [B, C]
            clsLoss = clsLoss.Plus(nn.functional.cross_entropy(setLogits, labels[s]));
            using (no_grad()) accuracies[s] = setLogits.argmax(-1).eq(labels[s]).sum().item<long>() / (float)b;
        }
        clsLoss = TorchScalar.Use(corpus.LabelSets.Count, count => clsLoss.div(count));
        var total = captionLoss.Plus(clsLoss);
        return new DemoLosses(total, captionLoss.item<float>(), clsLoss.item<float>(), tokenAccuracy, accuracies);
    }
}
