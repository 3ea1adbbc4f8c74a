using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>
/// Several sequence executors share the expert groups. With the caller-runs dispatcher one executor's thread may
/// process a message another executor sent (and inside its own dispose scope): every reply must still reach its
/// sender intact.
/// </summary>
[Trait("Category", "Golden")]
public sealed class ConcurrentRequestSpecs(ITestOutputHelper output)
{
    [Theory]
    [InlineData("upmoe-expert-dispatcher")]
    [InlineData("upmoe-expert-pool-dispatcher")]
    public async Task Concurrent_requests_over_two_sequence_executors_should_all_be_right(string dispatcher)
    {
        await using var engine = EngineFixture.Start(PlacementPlanner.PerExpert(GoldenModel.Model.Config),
            hocon: $"upmoe.engine.sequence-executors = 2\nupmoe.engine.expert-dispatcher = {dispatcher}");
        var image = GoldenFixture.Input("image.in1k_224");
        var requests = Enumerable.Range(0, 24).Select(_ => Task.Run(() => engine.EmbedVisualAsync(image, EmbedTask.ImageClassification))).ToArray();
        var features = await Task.WhenAll(requests);
        double worst = 0;
        foreach (var f in features)
            using (f) worst = Math.Max(worst, TensorAssert.Close(output, "feat.image_cls", GoldenFixture.Output("feat.image_cls"), f, Tolerances.Features));
        output.WriteLine($"{features.Length} concurrent requests, worst max |diff| {worst:E2}; {engine.Counters.Snapshot()["requests_completed"]} completed");
        Assert.Equal(0, engine.Counters.RequestsFailed.Value);
    }
}
