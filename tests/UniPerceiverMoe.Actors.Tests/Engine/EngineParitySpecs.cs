using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>
/// The engine (experts behind actors) equals the monolithic model and the golden fixtures for every placement:
/// one group, one per layer, one per expert (every route split over two groups), n per layer, route-aware with replicas.
/// </summary>
[Trait("Category", "Golden")]
public sealed class EngineParitySpecs(ITestOutputHelper output)
{
    public static TheoryData<string> Placements => ["single", "per-layer", "per-expert", "n-per-layer", "route-aware-replicated"];

    private static PlacementPlan Plan(string name)
    {
        var config = GoldenModel.Model.Config;
        return name switch
        {
            "single" => PlacementPlanner.Single(config),
            "per-layer" => PlacementPlanner.PerLayer(config),
            "per-expert" => PlacementPlanner.PerExpert(config),
            "n-per-layer" => PlacementPlanner.NPerLayer(config, 3),
            _ => PlacementPlanner.WithReplicas(PlacementPlanner.RouteAware(config, GoldenModel.Routes, MoeAttribute.Known), 2),
        };
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Engine_features_and_logits_should_equal_monolithic_and_golden(string placement)
    {
        await using var engine = EngineFixture.Start(Plan(placement));
        output.WriteLine(engine.Plan.Describe());
        var image = GoldenFixture.Input("image.in1k_224");
        var video = GoldenFixture.Input("video.clip_224");

        using var imageFeature = await engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var monolithic = UniPerceiverTasks.VisualFeatures(GoldenModel.Runner, image.unsqueeze(0).unsqueeze(0), MoeAttribute.VisualInput);
        TensorAssert.Close(output, "engine vs monolithic image feature", monolithic, imageFeature, 1e-6);
        TensorAssert.Close(output, "feat.image_cls", GoldenFixture.Output("feat.image_cls"), imageFeature, Tolerances.Features);

        using var videoFeature = await engine.EmbedVisualAsync(video, EmbedTask.VideoRetrieval);
        TensorAssert.Close(output, "feat.video_retrieval", GoldenFixture.Output("feat.video_retrieval"), videoFeature, Tolerances.Features);

        var labels = GoldenFixture.ClassNames();
        var classified = await engine.ClassifyAsync(image, labels, video: false);
        var logits = tensor(labels.Select(l => classified.Labels.Single(s => s.Label == l).Logit).ToArray()).unsqueeze(0);
        TensorAssert.Close(output, "logits.image_cls", GoldenFixture.Output("logits.image_cls"), logits, Tolerances.Logits);
        if (placement == "per-expert") Assert.True(engine.Counters.SplitRouteParts.Value > 0, "per-expert placement should split routes");
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Engine_caption_should_equal_the_golden_beam_search(string placement)
    {
        await using var engine = EngineFixture.Start(Plan(placement));
        var result = await engine.CaptionAsync(GoldenFixture.Input("image.clip_224"), new CaptionOptions());
        var expected = GoldenFixture.Output("caption.beam2.ids");
        TensorAssert.Equal(output, "caption.beam2.ids", expected, tensor(result.Beams.SelectMany(b => b.Ids).ToArray(), expected.shape));
        TensorAssert.Close(output, "caption.beam2.score", GoldenFixture.Output("caption.beam2.score"), tensor(result.Beams.Select(b => b.Score).ToArray()), Tolerances.Logits);
    }

    [Fact]
    public async Task Fused_hops_should_give_bit_identical_features_and_be_used_only_where_one_group_holds_every_route()
    {
        var image = GoldenFixture.Input("image.in1k_224");
        await using var whole = EngineFixture.Start(Plan("per-layer"));
        await using var tail = EngineFixture.Start(Plan("per-layer"), hocon: "upmoe.engine.fuse-layer = off");
        await using var ffn = EngineFixture.Start(Plan("per-layer"), hocon: "upmoe.engine.fuse-layer = off\nupmoe.engine.fuse-tail = off");
        await using var unfused = EngineFixture.Start(Plan("per-layer"), hocon: "upmoe.engine.fuse-layer = off\nupmoe.engine.fuse-tail = off\nupmoe.engine.fuse-ffn = off");
        await using var split = EngineFixture.Start(Plan("per-expert"));
        using var w = await whole.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var a = await tail.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var b = await ffn.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var c = await unfused.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var d = await split.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        TensorAssert.Close(output, "fused whole layer vs unfused", c, w, 0);
        TensorAssert.Close(output, "fused tail vs unfused", c, a, 0);
        TensorAssert.Close(output, "fused FFN vs unfused", c, b, 0);
        TensorAssert.Close(output, "feat.image_cls (fused tail)", GoldenFixture.Output("feat.image_cls"), a, Tolerances.Features);
        // Every MoE layer of the fixture has attention and FFN experts, and one attribute covers the whole image (one
        // segment per layer). Unfused: qkv, out, linear1, linear2 per layer; a fused FFN saves one request per layer, a
        // fused tail two (qkv, then out-projection through the layer output), a fused whole layer three (the embedding
        // pass has no key/value cache and no padding).
        long n = GoldenFacts.MoeLayersWithAttentionAndFfn;
        Assert.True(n > 0, "the fixture should have MoE layers with attention and FFN experts");
        Assert.Equal((n, 0L, 0L), (whole.Counters.FusedLayerRequests.Value, whole.Counters.FusedTailRequests.Value, whole.Counters.FusedFfnRequests.Value));
        Assert.Equal(unfused.Counters.ExpertRequests.Value - 3 * n, whole.Counters.ExpertRequests.Value);
        Assert.Equal((n, 0L), (tail.Counters.FusedTailRequests.Value, tail.Counters.FusedFfnRequests.Value));
        Assert.Equal((0L, n), (ffn.Counters.FusedTailRequests.Value, ffn.Counters.FusedFfnRequests.Value));
        Assert.Equal(unfused.Counters.ExpertRequests.Value - n, ffn.Counters.ExpertRequests.Value);
        Assert.Equal(unfused.Counters.ExpertRequests.Value - 2 * n, tail.Counters.ExpertRequests.Value);
        Assert.Equal((0L, 0L, 0L), (split.Counters.FusedLayerRequests.Value, split.Counters.FusedTailRequests.Value, split.Counters.FusedFfnRequests.Value));   // split routes
        TensorAssert.Close(output, "per-expert (split, unfused)", GoldenFixture.Output("feat.image_cls"), d, Tolerances.Features);
    }

    [Fact]
    public async Task Groups_on_their_own_threads_should_give_the_same_features_and_caption()
    {
        await using var engine = EngineFixture.Start(Plan("per-expert"), hocon: "upmoe.engine.expert-dispatcher = upmoe-expert-pool-dispatcher");
        using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        TensorAssert.Close(output, "feat.image_cls (pool dispatcher)", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
        var result = await engine.CaptionAsync(GoldenFixture.Input("image.clip_224"));
        var expected = GoldenFixture.Output("caption.beam2.ids");
        TensorAssert.Equal(output, "caption.beam2.ids (pool dispatcher)", expected, tensor(result.Beams.SelectMany(b => b.Ids).ToArray(), expected.shape));
    }
}
