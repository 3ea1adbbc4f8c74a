using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>The engine counts its sequence executors' CPU per request and the part spent on expert dispatch (what
/// <c>upmoe bench cluster</c> splits a request's CPU by).</summary>
public sealed class EngineCpuCounterSpecs
{
    [Fact]
    public async Task Engine_should_count_sequence_cpu_and_the_expert_dispatch_part_of_it()
    {
        if (!ThreadCpu.IsSupported) return;   // readings are 0 off Linux (ThreadCpuSpecs)
        await using var engine = EngineFixture.Start(PlacementPlanner.PerLayer(GoldenModel.Model.Config));
        var image = GoldenFixture.Input("image.in1k_224");
        for (int i = 0; i < 3; i++)
        {
            using var features = await engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        }
        var counters = engine.Counters.Snapshot();
        long sequence = counters["sequence_cpu_microseconds"], dispatch = counters["expert_dispatch_cpu_microseconds"];
        Assert.True(engine.Counters.FusedLayerRequests.Value > 0, "the per-layer plan should send whole layers to the groups");
        Assert.True(dispatch > 0, "no expert-dispatch CPU counted");
        // The dispatch is part of the request's work on the same thread, and the dense layers, embeddings and head are the rest.
        Assert.True(dispatch < sequence, $"expert dispatch {dispatch} µs is not a part of the sequence executors' {sequence} µs");
    }
}
