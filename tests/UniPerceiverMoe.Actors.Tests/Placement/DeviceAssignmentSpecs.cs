using Akka.Configuration;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Actors.Tests.Placement;

public sealed class DeviceAssignmentSpecs
{
    private static readonly UniPerceiverConfig Config = UniPerceiverConfig.Tiny;

    [Fact]
    public void Groups_should_be_spread_over_the_devices_balanced_by_expert_bytes()
    {
        var plan = PlacementPlanner.PerExpert(Config);   // 2 MoE layers x 8 experts: 16 equal groups
        var bytes = DeviceAssignment.ExpertBytes(Config);
        var devices = DeviceAssignment.Balance(plan, ["cuda:0", "cuda:1", "cuda:2"], bytes);
        var perDevice = devices.BytesPerDevice(plan, bytes);
        Assert.Equal(plan.Groups.Count, devices.ByGroup.Count);
        Assert.Equal(3, perDevice.Count);
        long one = bytes(new ExpertKey(0, 0));
        Assert.True(perDevice.Values.Max() - perDevice.Values.Min() <= one, string.Join(", ", perDevice.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    [Fact]
    public void Unequal_groups_should_go_largest_first_to_the_least_loaded_device()
    {
        var plan = new PlacementPlan("test", [
            new ExpertGroupSpec("small", [new ExpertKey(0, 0)]),
            new ExpertGroupSpec("large", [new ExpertKey(0, 1), new ExpertKey(0, 2), new ExpertKey(0, 3)]),
            new ExpertGroupSpec("medium", [new ExpertKey(0, 4), new ExpertKey(0, 5)]),
        ]);
        var devices = DeviceAssignment.Balance(plan, ["cuda:0", "cuda:1"], _ => 10);
        Assert.Equal("cuda:0", devices.Of("large"));    // first, tie broken by list order
        Assert.Equal("cuda:1", devices.Of("medium"));
        Assert.Equal("cuda:1", devices.Of("small"));    // 30 vs 20: the lighter device
        Assert.Equal(new Dictionary<string, long> { ["cuda:0"] = 30, ["cuda:1"] = 30 }, devices.BytesPerDevice(plan, _ => 10));
    }

    [Fact]
    public void A_device_listed_twice_should_count_as_two_slots()
    {
        var plan = PlacementPlanner.PerLayer(Config);
        var devices = DeviceAssignment.Balance(plan, ["cpu", "cpu"], DeviceAssignment.ExpertBytes(Config));
        Assert.All(plan.Groups, g => Assert.Equal("cpu", devices.Of(g.Id)));
        Assert.Equal([0, 1], plan.Groups.Select(g => devices.SlotOf(g.Id)).Order().ToArray());
    }

    [Fact]
    public void Expert_bytes_should_count_the_float32_slices_of_every_moe_linear()
    {
        long d = Config.Hidden, f = Config.Ffn;
        Assert.Equal(4 * (4 * d * d + 4 * d + 2 * d * f + f + d), DeviceAssignment.ExpertBytes(Config)(new ExpertKey(0, 0)));
    }

    [Fact]
    public void Placement_settings_should_read_the_devices_and_default_to_the_engine_device()
    {
        Assert.Equal(["cpu"], PlacementSettings.FromConfig(UpmoeConfig.Parse("")).DevicesOr("cpu"));
        var two = PlacementSettings.FromConfig(UpmoeConfig.Parse("upmoe.placement.devices = [\"cuda:0\", \"cuda:1\"]"));
        Assert.Equal(["cuda:0", "cuda:1"], two.DevicesOr("cpu"));
    }

    [Fact]
    public void A_bad_device_name_should_fail_naming_the_key_and_the_value()
    {
        var e = Assert.Throws<ConfigurationException>(() => PlacementSettings.FromConfig(UpmoeConfig.Parse("upmoe.placement.devices = [\"gpu1\"]")));
        Assert.Contains("upmoe.placement.devices", e.Message);
        Assert.Contains("'gpu1'", e.Message);
    }

    [Fact]
    public void A_node_balancer_should_place_arriving_groups_on_the_lightest_device_and_free_it_when_they_leave()
    {
        var balancer = new DeviceBalancer(["cuda:0", "cuda:1"], _ => 1);
        var a = new ExpertGroupSpec("a", [new ExpertKey(0, 0), new ExpertKey(0, 1)]);
        var b = new ExpertGroupSpec("b", [new ExpertKey(0, 2)]);
        var c = new ExpertGroupSpec("c", [new ExpertKey(0, 3)]);
        Assert.Equal("cuda:0", balancer.Acquire(a));
        Assert.Equal("cuda:1", balancer.Acquire(b));
        Assert.Equal("cuda:1", balancer.Acquire(c));     // 2 vs 1 expert
        Assert.Equal("cuda:1", balancer.Acquire(c));     // held: the same device
        balancer.Release("a");
        var d = new ExpertGroupSpec("d", [new ExpertKey(0, 4)]);
        Assert.Equal("cuda:0", balancer.Acquire(d));     // a left: cuda:0 is empty
        Assert.Equal(new Dictionary<string, string> { ["b"] = "cuda:1", ["c"] = "cuda:1", ["d"] = "cuda:0" }, balancer.Snapshot());
        Assert.Throws<InvalidOperationException>(() => balancer.Of("a"));
    }
}
