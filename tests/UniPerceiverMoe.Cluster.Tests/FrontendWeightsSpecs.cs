using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>A frontend started from hocon/frontend.conf reads and holds the dense part of the checkpoint only.</summary>
[Trait("Category", "Golden")]
public sealed class FrontendWeightsSpecs(InProcessClusterFixture cluster, ITestOutputHelper output) : IClassFixture<InProcessClusterFixture>
{
    [Fact]
    public async Task A_frontend_from_frontend_conf_should_hold_no_expert_tensor_and_still_match_the_golden_features()
    {
        // Its own model from the checkpoint (no shared test model), joining the fixture's cluster as a second frontend.
        await using var frontend = ClusterFrontend.Start(TestCluster.Config("frontend", InProcessClusterFixture.Placement, InProcessClusterFixture.SmallFrame));
        frontend.Cluster.JoinSeedNodes([cluster.Frontend.Address]);
        await frontend.WhenUp();

        var model = frontend.Engine.Model;
        var experts = model.modules().OfType<FusedExperts>().ToList();
        Assert.NotEmpty(experts);
        Assert.All(experts, e => Assert.False(e.Held));
        var held = model.state_dict().Where(kv => ModelLoader.IsExpertKey(kv.Key)).ToList();
        Assert.NotEmpty(held);
        Assert.All(held, kv => Assert.Equal(TorchSharp.DeviceType.META, kv.Value.device_type));
        long dense = model.state_dict().Where(kv => !ModelLoader.IsExpertKey(kv.Key)).Sum(kv => kv.Value.NumberOfElements);
        output.WriteLine($"frontend holds {dense:N0} dense values; {held.Count} expert tensors on the meta device (no storage)");

        using var feature = await frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        TensorAssert.Close(output, "feat.image_cls through a dense-only frontend", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
    }
}
