using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Model.Tests.Tokenization;
using UniPerceiverMoe.Demo.Training;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Training;

public sealed class DemoTrainerSpecs
{
    /// <summary>A 2-layer variant of the demo shape (MoE in layer 0) so the specs stay within seconds.</summary>
    private static readonly UniPerceiverConfig Small = DemoTrainingOptions.DemoConfig with { Layers = 2, MoeLayerIndices = [0] };

    private static DemoCorpus Corpus => new(TokenizerFixture.Tokenizer);

    [Fact]
    public void Corpus_should_hold_every_caption_token_and_end_of_text_in_ascending_order()
    {
        var corpus = Corpus;
        Assert.Contains(Decoding.VocabularyBank.EndOfText, corpus.WordIds);
        Assert.Equal(corpus.WordIds.Order(), corpus.WordIds);
        foreach (var caption in CaptionGrammar.AllCaptions())
            Assert.All(corpus.CaptionIds(caption), id => Assert.Equal(id, corpus.WordIds[corpus.RowOf(id)]));
        Assert.Equal(3, corpus.LabelSets.Count);
        Assert.Equal(7, corpus.LabelSets[2].TargetIds.Count);
    }

    [Fact]
    public void Training_should_reduce_the_caption_and_classification_losses_within_a_few_dozen_steps()
    {
        var options = new DemoTrainingOptions { Steps = 30, BatchSize = 6, WarmupSteps = 5, LearningRate = 2e-3, Distractors = 32, LogEvery = 1, Seed = 4 };
        var result = DemoTrainer.Train(options, Corpus, Small);
        using var model = result.Model;
        var first = result.History.Take(3).ToArray();
        var last = result.History.TakeLast(3).ToArray();
        float before = first.Average(h => h.CaptionLoss), after = last.Average(h => h.CaptionLoss);
        Assert.True(after < 0.5f * before, $"caption loss {before:F3} → {after:F3}");
        Assert.True(last.Average(h => h.CaptionTokenAccuracy) > 0.4f, "the fixed words of the grammar (a, moves, to, the, EOS) are learned first");
        Assert.True(last.Average(h => h.Loss) < first.Average(h => h.Loss));
        Assert.False(model.parameters().Any(p => p.requires_grad), "the returned model is frozen for inference");
    }

    [Fact]
    public void Training_should_be_deterministic_for_a_seed_whatever_torchs_global_generator_holds()
    {
        // Other specs draw from torch's global generator on parallel threads; training must not read it.
        var options = new DemoTrainingOptions { Steps = 2, BatchSize = 2, Distractors = 8, LogEvery = 1, Seed = 9 };
        manual_seed(1);
        var a = DemoTrainer.Train(options, Corpus, Small);
        manual_seed(2);
        var b = DemoTrainer.Train(options, Corpus, Small);
        using (a.Model)
        using (b.Model)
        {
            Assert.Equal(a.History.Select(h => h.Loss), b.History.Select(h => h.Loss));
            var pa = a.Model.state_dict();
            var pb = b.Model.state_dict();
            Assert.All(pa.Keys, k => Assert.True(Same(pa[k], pb[k]), k));
        }
    }

    [Fact]
    public void Continued_training_should_update_the_given_model_and_freeze_it_again()
    {
        var options = new DemoTrainingOptions { Steps = 1, BatchSize = 2, Distractors = 4, Seed = 5 };
        var first = DemoTrainer.Train(options, Corpus, Small);
        using var model = first.Model;
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var second = DemoTrainer.Train(options, Corpus, start: model, firstClip: 2);
        Assert.Same(model, second.Model);
        Assert.DoesNotContain(model.parameters(), p => p.requires_grad);
        var after = model.state_dict();
        Assert.False(Same(before["fused_encoder.layers.1.linear1.weight"], after["fused_encoder.layers.1.linear1.weight"]), "dense weights should move");
        Assert.True(Same(before["video_embed.embeddings_st_pos.spatial_pos_embed.weight"], after["video_embed.embeddings_st_pos.spatial_pos_embed.weight"]),
            "the sin-cos spatial table stays fixed");
        foreach (var t in before.Values) t.Dispose();
    }

    [Fact]
    public void Saved_demo_model_should_load_strictly_with_its_config_sidecar()
    {
        var options = new DemoTrainingOptions { Steps = 1, BatchSize = 2, Distractors = 4, Seed = 2 };
        var corpus = Corpus;
        var result = DemoTrainer.Train(options, corpus, Small);
        string dir = Path.Combine(Path.GetTempPath(), $"upmoe-demo-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using var model = result.Model;
            var manifest = new DemoManifest(DemoManifest.CurrentFormat, CaptionGrammar.Description, corpus.WordIds,
                corpus.WordIds.Select(i => i.ToString()).ToArray(), Decoding.VocabularyBank.EndOfText, CaptionGrammar.ShapeLabels,
                CaptionGrammar.ColourLabels, CaptionGrammar.ActionLabels, DemoVideoLayout.From(new SyntheticVideoOptions()), 2, 1, 2, 2, 0.5, 1f);
            DemoModelFiles.Save(dir, model, manifest);
            string path = Path.Combine(dir, DemoModelFiles.ModelFile);
            Assert.Equal(Small.ToJson(), ModelConfigResolver.Resolve("auto", path).ToJson());
            var (loaded, loadedManifest) = DemoModelFiles.Load(dir);
            using (loaded)
            {
                Assert.Equal(manifest.CorpusWordIds, loadedManifest.CorpusWordIds);
                Assert.Equal(manifest.Video, loadedManifest.Video);
                var expected = model.state_dict();
                foreach (var (key, value) in loaded.state_dict())
                    Assert.True(Same(value, expected[key]), key);
                Assert.True(Same(loaded.state_dict()["video_embed.embeddings_norm.weight"], expected["token_embed.embeddings_norm.weight"]));
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
