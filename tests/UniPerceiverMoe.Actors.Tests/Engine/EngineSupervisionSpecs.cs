using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>A group that throws is restarted (weights reloaded); the request is retried once, then fails clearly.</summary>
[Trait("Category", "Golden")]
public sealed class EngineSupervisionSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_group_crash_mid_request_should_restart_retry_and_give_the_right_result()
    {
        var faults = new ExpertGroupFaults();
        await using var engine = EngineFixture.Start(PlacementPlanner.PerLayer(GoldenModel.Model.Config), faults);
        faults.FailNext("L2", 1);
        using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        TensorAssert.Close(output, "feat.image_cls after a crash", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
        Assert.Equal(1, engine.Counters.ExpertRetries.Value);
        Assert.Equal(1, engine.Counters.GroupRestarts.Value);
        Assert.Equal(0, engine.Counters.ExpertFailures.Value);
    }

    [Fact]
    public async Task A_second_failure_should_fail_the_request_with_a_clear_error_and_keep_serving()
    {
        var faults = new ExpertGroupFaults();
        await using var engine = EngineFixture.Start(PlacementPlanner.PerLayer(GoldenModel.Model.Config), faults);
        faults.FailNext("L0", 2);
        var error = await Assert.ThrowsAsync<ExpertGroupException>(() => engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification));
        output.WriteLine(error.Message);
        Assert.Contains("layer 0", error.Message);
        Assert.Contains("failed after 2 attempt(s)", error.Message);
        Assert.Contains("expert group L0", error.Message);
        Assert.Equal(1, engine.Counters.ExpertFailures.Value);
        Assert.Equal(2, engine.Counters.GroupRestarts.Value);
        Assert.Equal(1, engine.Counters.RequestsFailed.Value);

        using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        TensorAssert.Close(output, "feat.image_cls after the failure", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
    }
}
