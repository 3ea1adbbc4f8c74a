using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Demo.Training;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Training;

public sealed class CaptionAttentionMaskSpecs
{
    [Fact]
    public void Mask_should_follow_the_reference_rules_for_prefix_words_and_queries()
    {
        const int prefix = 3, words = 4;                         // tokens: p0 p1 p2 | w0 w1 w2 w3 | q0 q1 q2 q3
        int W(int i) => prefix + i;
        int Q(int i) => prefix + words + i;
        bool A(int i, int j) => CaptionAttentionMask.Allowed(i, j, prefix, words);
        for (int i = 0; i < prefix + 2 * words; i++)
            for (int j = 0; j < prefix; j++) Assert.True(A(i, j), $"{i} should see prefix token {j}");
        for (int j = prefix; j < prefix + 2 * words; j++) Assert.False(A(1, j), "the prefix must not see text");
        Assert.True(A(W(2), W(0)) && A(W(2), W(2)));
        Assert.False(A(W(2), W(3)) || A(W(2), Q(2)));
        Assert.True(A(Q(2), W(0)) && A(Q(2), W(1)) && A(Q(2), Q(2)));
        Assert.False(A(Q(2), W(2)) || A(Q(2), W(3)) || A(Q(2), Q(1)) || A(Q(2), Q(3)));
        Assert.True(A(Q(0), Q(0)));
        Assert.False(A(Q(0), W(0)));

        using var bias = CaptionAttentionMask.Build(prefix, words, -10000f);
        Assert.Equal(new long[] { 1, 1, 11, 11 }, bias.shape);
        Assert.Equal(0f, bias[0, 0, Q(2), W(1)].item<float>());
        Assert.Equal(-10000f, bias[0, 0, Q(2), W(2)].item<float>());
    }

    [Fact]
    public void Query_outputs_should_not_depend_on_the_word_they_predict_or_later_words()
    {
        var config = DemoTrainingOptions.DemoConfig with { Layers = 2, MoeLayerIndices = [0] };
        using var model = DemoModelInit.Create(config, seed: 3, gammaInit: 0.5f);
        using var _ = no_grad();
        const int prefix = 5, words = 4;
        manual_seed(9);
        var x = randn(1, prefix + 2 * words, config.Hidden);
        var changed = x.clone();
        changed[0, prefix + 2] = randn(config.Hidden);          // w2 changes: q0..q2 and w0, w1 must not notice
        using var mask = CaptionAttentionMask.Build(prefix, words, config.MaskValue);
        var routing = TokenRouting.Split(prefix + 2 * words, prefix, MoeAttribute.CaptionVisual, MoeAttribute.CaptionText);
        using var executor = new TrainingMoeExecutor(model);
        using var a = TrainingEncoder.Encode(model, executor, x, routing, mask);
        using var b = TrainingEncoder.Encode(model, executor, changed, routing, mask);
        using var diff = a.sub(b).abs().amax([0L, 2L]);                                          // [N]
        var d = diff.data<float>().ToArray();
        int q = prefix + words;
        foreach (int i in new[] { 0, 4, prefix, prefix + 1, q, q + 1, q + 2 })
            Assert.True(d[i] < 1e-5f, $"token {i} changed by {d[i]}");
        foreach (int i in new[] { prefix + 2, prefix + 3, q + 3 })
            Assert.True(d[i] > 1e-3f, $"token {i} should see w2 (changed by {d[i]})");
    }
}
