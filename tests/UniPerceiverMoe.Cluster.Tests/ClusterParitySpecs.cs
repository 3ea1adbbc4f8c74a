using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>The cluster (frontend + two expert nodes, tensors over the wire) equals embedded mode and the golden fixtures.</summary>
[Trait("Category", "Golden")]
public sealed class ClusterParitySpecs(InProcessClusterFixture cluster, ITestOutputHelper output) : IClassFixture<InProcessClusterFixture>
{
    [Fact]
    public async Task Cluster_features_should_equal_embedded_and_golden()
    {
        var engine = cluster.Frontend.Engine;
        var image = GoldenFixture.Input("image.in1k_224");
        using var feature = await engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var monolithic = UniPerceiverTasks.VisualFeatures(GoldenModel.Runner, image.unsqueeze(0).unsqueeze(0), MoeAttribute.VisualInput);
        TensorAssert.Close(output, "cluster vs monolithic image feature", monolithic, feature, 1e-6);
        TensorAssert.Close(output, "feat.image_cls", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);

        using var video = await engine.EmbedVisualAsync(GoldenFixture.Input("video.clip_224"), EmbedTask.VideoRetrieval);
        TensorAssert.Close(output, "feat.video_retrieval", GoldenFixture.Output("feat.video_retrieval"), video, Tolerances.Features);

        var counters = cluster.Frontend.Counters;
        output.WriteLine(string.Join(", ", counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(counters.SplitParts.Value > 0, "a 192 KiB frame should split the wider linears over several messages");
        Assert.True(engine.Counters.SplitRouteParts.Value > 0, "per-expert placement should split routes over two groups");
        Assert.Equal(0, counters.PartsFailed.Value);
        Assert.True(counters.DataPlaneMessages.Value > 0, "after a group's first reply its requests should take the data plane");
        Assert.True(cluster.Experts.Sum(e => e.Counters.DataPlaneRequests.Value) >= counters.DataPlaneMessages.Value);
    }

    [Fact]
    public async Task Cluster_caption_should_equal_the_golden_beam_search()
    {
        var result = await cluster.Frontend.Engine.CaptionAsync(GoldenFixture.Input("image.clip_224"), new CaptionOptions());
        var expected = GoldenFixture.Output("caption.beam2.ids");
        TensorAssert.Equal(output, "caption.beam2.ids", expected, tensor(result.Beams.SelectMany(b => b.Ids).ToArray(), expected.shape));
        TensorAssert.Close(output, "caption.beam2.score", GoldenFixture.Output("caption.beam2.score"), tensor(result.Beams.Select(b => b.Score).ToArray()), Tolerances.Logits);
    }

    [Fact]
    public async Task Expert_groups_should_be_spread_over_both_expert_nodes()
    {
        using (await cluster.Frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification)) { }
        var homes = await TestCluster.GroupHomesAsync(cluster.Frontend);
        foreach (var node in homes.GroupBy(h => h.Value)) output.WriteLine($"{node.Key}: {string.Join(" ", node.Select(h => h.Key))}");
        Assert.Equal(cluster.Frontend.Engine.Plan.Groups.Count, homes.Count);
        var experts = cluster.Experts.Select(e => e.Address.ToString()).ToHashSet();
        Assert.Equal(experts, homes.Values.ToHashSet());
        Assert.True(cluster.Experts.All(e => e.Counters.EntityRequests.Value > 0), "both expert nodes should have served requests");
    }
}
