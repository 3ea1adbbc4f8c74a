using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>One node with both roles hosts the groups and dispatches through its own region; here with float16 payloads.</summary>
[Trait("Category", "Golden")]
public sealed class CombinedRoleSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_node_with_both_roles_should_serve_alone_with_half_precision_payloads()
    {
        var config = TestCluster.Config("frontend", "per-layer", """
            akka.cluster.roles = [frontend, experts]
            upmoe.cluster.wire-dtype = float16
            """);
        await using var node = ClusterFrontend.Start(config, new ClusterFrontendOptions
        {
            Engine = new EngineStartOptions { Model = GoldenModel.Model, CheckpointPath = GoldenModel.CheckpointPath, Tokenizer = GoldenModel.Tokenizer },
        });
        node.Cluster.JoinSeedNodes([node.Address]);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));

        using var feature = await node.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        // float16 rounds every MoE input and output to 11 significant bits: close, but not the float32 tolerance.
        double diff = TensorAssert.Close(output, "feat.image_cls over float16 payloads", GoldenFixture.Output("feat.image_cls"), feature, 5e-3);
        Assert.True(diff > 0, "float16 payloads should not be bit-exact");
        var homes = await TestCluster.GroupHomesAsync(node);
        Assert.All(homes.Values, h => Assert.Equal(node.Address.ToString(), h));
    }
}
