using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>Specs that count <see cref="DeviceStaging.Copied"/> (a process-wide hook) run alone.</summary>
[CollectionDefinition(nameof(DeviceCopyCollection), DisableParallelization = true)]
public sealed class DeviceCopyCollection;

/// <summary>
/// Expert groups spread over several devices (upmoe.placement.devices) in embedded mode. Here the devices are CPU
/// slots ["cpu", "cpu"]: the plan, the assignment, the reporting and the results are what several GPUs would get.
/// </summary>
[Collection(nameof(DeviceCopyCollection))]
[Trait("Category", "Golden")]
public sealed class DevicePlacementSpecs(ITestOutputHelper output)
{
    private const string TwoDevices = "upmoe.placement.devices = [\"cpu\", \"cpu\"]";

    [Fact]
    public async Task Groups_should_be_assigned_to_both_device_slots_and_report_their_device()
    {
        await using var engine = EngineFixture.Start(PlacementPlanner.PerExpert(GoldenModel.Model.Config), hocon: TwoDevices);
        var bytes = DeviceAssignment.ExpertBytes(engine.Model.Config);
        output.WriteLine(engine.Devices.Describe(engine.Plan, bytes));
        var perSlot = engine.Plan.Groups.GroupBy(g => engine.Devices.SlotOf(g.Id)).ToDictionary(g => g.Key, g => g.Count());
        // Per-expert groups are all the same size: the two slots get all of them, as evenly as a count allows.
        int total = engine.Plan.Groups.Count;
        Assert.Equal(new[] { 0, 1 }, perSlot.Keys.Order());
        Assert.Equal(total, perSlot.Values.Sum());
        Assert.InRange(Math.Abs(perSlot[0] - perSlot[1]), 0, total % 2);
        foreach (var (id, group) in engine.Groups)
        {
            var stats = await group.Ask<ExpertGroupProtocol.GroupCounters>(ExpertGroupProtocol.GetStats.Instance, TimeSpan.FromSeconds(10));
            Assert.Equal(id, stats.GroupId);
            Assert.Equal(engine.Devices.Of(id), stats.Device);
        }
    }

    [Theory]
    [InlineData("per-layer")]
    [InlineData("per-expert")]
    public async Task Features_over_two_devices_should_be_bit_identical_to_one_device(string placement)
    {
        var config = GoldenModel.Model.Config;
        var plan = placement == "per-layer" ? PlacementPlanner.PerLayer(config) : PlacementPlanner.PerExpert(config);
        var image = GoldenFixture.Input("image.in1k_224");
        await using var one = EngineFixture.Start(plan);
        await using var two = EngineFixture.Start(plan, hocon: TwoDevices);
        using var expected = await one.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        using var actual = await two.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        TensorAssert.Equal(output, $"{placement} over [cpu, cpu] vs one device", expected, actual);
        var caption1 = await one.CaptionAsync(GoldenFixture.Input("image.clip_224"), new Model.Decoding.CaptionOptions());
        var caption2 = await two.CaptionAsync(GoldenFixture.Input("image.clip_224"), new Model.Decoding.CaptionOptions());
        Assert.Equal(caption1.Beams.Select(b => b.Ids), caption2.Beams.Select(b => b.Ids));
        Assert.Equal(caption1.Beams.Select(b => b.Score), caption2.Beams.Select(b => b.Score));
    }

    [Fact]
    public async Task In_process_hops_should_copy_no_tensor_to_or_from_the_host()
    {
        await using var engine = EngineFixture.Start(PlacementPlanner.PerExpert(GoldenModel.Model.Config), hocon: TwoDevices);
        int copies = 0;
        void Count(CopyDirection direction, TorchSharp.DeviceType device) => Interlocked.Increment(ref copies);
        DeviceStaging.Copied += Count;
        try
        {
            using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        }
        finally
        {
            DeviceStaging.Copied -= Count;
        }
        Assert.True(engine.Counters.ExpertRequests.Value > 0, "the embedding should have made expert requests");
        Assert.Equal(0, copies);
    }
}
