using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Demo.Training;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Training;

public sealed class ConstrainedDecodingSpecs
{
    private static readonly UniPerceiverConfig Small = DemoTrainingOptions.DemoConfig with { Layers = 2, MoeLayerIndices = [0] };

    [Fact]
    public void Greedy_decoding_with_a_shuffled_subset_bank_should_pick_the_same_words_as_with_the_larger_bank()
    {
        using var model = ModelLoader.Random(Small, seed: 12);
        using var executor = new LocalMoeExecutor(model, new RouteTable(model));
        var runner = new UniPerceiverRunner(model, executor);
        var ids = Enumerable.Range(0, 1500).Select(i => (long)i).Append(VocabularyBank.EndOfText).ToArray();
        using var bank = VocabularyBank.Build(runner, ids);
        var generator = new SyntheticVideoGenerator();
        using var pixels = DemoBatch.RenderPixels(generator.SampleMany(1, 0, 2), generator.Options);
        var greedy = new CaptionOptions { BeamSize = 1, MaxLength = 6 };
        // Both searches start from one encoded prefix: this spec is about the bank. Encoding the clip twice can differ
        // in the last bit (MKL's GEMM kernels depend on buffer alignment), which once flipped a near-tie in CI.
        using var prefix = new DisposableKv(Prefix(runner, pixels));
        var full = CaptionBeamSearcher.DecodeFromPrefix(runner, prefix.Layers, bank, greedy);

        // The subset holds the words greedy decoding chose plus others, in a shuffled order: rows differ from ids.
        var chosen = full.SelectMany(r => r.Best.Ids).Distinct();
        var rng = new Random(3);
        var subsetIds = chosen.Concat(ids.Where(_ => rng.Next(10) == 0)).Append(VocabularyBank.EndOfText)
            .Distinct().OrderBy(_ => rng.Next()).ToArray();
        using var subset = bank.Subset(subsetIds);
        var constrained = CaptionBeamSearcher.DecodeFromPrefix(runner, prefix.Layers, subset, greedy);
        for (int i = 0; i < full.Count; i++)
        {
            Assert.Equal(full[i].Best.Ids, constrained[i].Best.Ids);
            Assert.All(constrained[i].Best.Ids, id => Assert.Contains(id, subsetIds));
            Assert.True(constrained[i].Best.LogProbSum >= full[i].Best.LogProbSum - 1e-4f, "a smaller bank renormalises over fewer words");
        }
    }

    private static LayerKv[] Prefix(UniPerceiverRunner runner, Tensor pixels)
    {
        using var _ = no_grad();
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], MoeAttribute.CaptionVisual), captureKv: true);
        return encoded.DetachKv();
    }

    private sealed class DisposableKv(LayerKv[] layers) : IDisposable
    {
        public LayerKv[] Layers { get; } = layers;
        public void Dispose()
        {
            foreach (var kv in Layers) kv.Dispose();
        }
    }

    [Fact]
    public void Beam_search_should_reject_a_bank_without_the_end_token()
    {
        using var model = ModelLoader.Random(Small, seed: 13);
        using var executor = new LocalMoeExecutor(model, new RouteTable(model));
        var runner = new UniPerceiverRunner(model, executor);
        using var bank = VocabularyBank.Build(runner, [320, 1746, 2866]);
        using var pixels = zeros([1, 4, 3, 224, 224]);
        var error = Assert.Throws<ArgumentException>(() => CaptionBeamSearcher.Decode(runner, pixels, bank, new CaptionOptions()));
        Assert.Contains("49407", error.Message);
    }
}
