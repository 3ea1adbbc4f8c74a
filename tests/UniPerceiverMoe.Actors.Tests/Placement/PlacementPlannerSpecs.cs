using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Actors.Tests.Placement;

public sealed class PlacementPlannerSpecs(ITestOutputHelper output)
{
    private static IEnumerable<(MoeSite Site, Route Route)> RoutesInUse() =>
        from site in GoldenModel.Model.MoeSites()
        from attribute in MoeAttribute.Known
        select (site, GoldenModel.Routes.RouteOf(site, attribute));

    [Fact]
    [Trait("Category", "Golden")]
    public void Route_aware_placement_should_serve_every_route_in_one_hop_with_replicas()
    {
        var plan = PlacementPlanner.WithReplicas(PlacementPlanner.RouteAware(GoldenModel.Model.Config, GoldenModel.Routes, MoeAttribute.Known), 2);
        output.WriteLine(plan.Describe());
        foreach (var (site, route) in RoutesInUse())
        {
            var parts = plan.Split(site.Layer, route);
            Assert.Single(parts);
            Assert.Equal(2, parts[0].Replicas.Count);
            Assert.Equal(route, parts[0].SubRoute);
        }
        Assert.True(plan.Groups.Count < GoldenModel.Model.Config.MoeLayers.Count * GoldenModel.Model.Config.Experts * 2, "groups should be fewer than one per expert and replica");
    }

    [Fact]
    [Trait("Category", "Golden")]
    public void Per_expert_placement_should_split_every_top2_route_into_weighted_parts()
    {
        var plan = PlacementPlanner.PerExpert(GoldenModel.Model.Config);
        foreach (var (site, route) in RoutesInUse())
        {
            var parts = plan.Split(site.Layer, route);
            Assert.Equal(2, parts.Count);
            Assert.Equal(route.Weights.Sum(), parts.Sum(p => p.SubRoute.Weights.Sum()), 6);
            Assert.Equal(route.Experts.Order(), parts.SelectMany(p => p.SubRoute.Experts).Order());
        }
    }

    [Fact]
    public void Every_plan_should_place_every_expert_of_every_moe_layer()
    {
        var config = UniPerceiverMoe.Model.UniPerceiverConfig.Base;
        foreach (var plan in new[] { PlacementPlanner.Single(config), PlacementPlanner.PerLayer(config), PlacementPlanner.PerExpert(config), PlacementPlanner.NPerLayer(config, 3) })
            foreach (var layer in config.MoeLayers)
                for (int e = 0; e < config.Experts; e++)
                    Assert.NotEmpty(plan.HoldersOf(new ExpertKey(layer, e)));
    }

    [Fact]
    public void Replicas_of_any_plan_should_list_every_replica_of_a_route_part_and_parse_back_to_their_group()
    {
        var config = UniPerceiverMoe.Model.UniPerceiverConfig.Base;
        var plan = PlacementPlanner.WithReplicas(PlacementPlanner.PerLayer(config), 3);
        Assert.Equal(config.MoeLayers.Count * 3, plan.Groups.Count);
        var parts = plan.Split(config.MoeLayers[0], new Route([0, 1], [0.5f, 0.5f]));
        var part = Assert.Single(parts);
        Assert.Equal(new[] { "L0-r0", "L0-r1", "L0-r2" }, part.Replicas);
        Assert.True(ReplicaIds.TryParse("L4E1+3-r12", out var baseId, out int replica));
        Assert.Equal(("L4E1+3", 12), (baseId, replica));
        Assert.False(ReplicaIds.TryParse("L0", out baseId, out _));
        Assert.Equal("L0", baseId);
        Assert.False(ReplicaIds.TryParse("L0-r", out _, out _));
        Assert.Same(plan, PlacementPlanner.WithReplicas(plan, 1));
    }
}
