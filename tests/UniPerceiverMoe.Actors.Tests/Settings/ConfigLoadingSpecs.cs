using Akka.Configuration;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.Tests.Settings;

/// <summary>reference.conf is the only place a default lives, configuration is layered one way, and a placement
/// strategy without a planner is an error, not route-aware in disguise.</summary>
public sealed class ConfigLoadingSpecs
{
    [Fact]
    public void Settings_read_from_a_configuration_built_without_the_reference_should_fail_naming_the_missing_key()
    {
        var bare = ConfigurationFactory.ParseString("upmoe.engine { checkpoint = \"x.pth\" }");
        var error = Assert.Throws<ConfigurationException>(() => EngineSettings.FromConfig(bare));
        Assert.Contains("'model-config'", error.Message);
        Assert.Contains("reference.conf", error.Message);
    }

    [Fact]
    public void Every_typed_section_should_read_from_the_reference_alone()
    {
        var reference = UpmoeConfig.Reference;
        var engine = EngineSettings.FromConfig(reference);
        Assert.Equal(reference.GetTimeSpan("upmoe.engine.replica-attempt-timeout"), engine.ReplicaPolicy.ReplicaAttemptTimeout);
        Assert.Equal(reference.GetInt("upmoe.placement.groups-per-layer"), PlacementSettings.FromConfig(reference).GroupsPerLayer);
        Assert.Equal(reference.GetInt("upmoe.routing.token.top-k"), RoutingSettings.FromConfig(reference).Token!.TopK);
        Assert.Equal(reference.GetInt("upmoe.cluster.data-plane.port"), UniPerceiverMoe.Actors.Cluster.ClusterSettings.FromConfig(reference).DataPlanePort);
    }

    [Fact]
    public void Layers_should_apply_in_order_reference_then_files_then_hocon_then_top()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "upmoe.engine { torch-threads = 3, sequence-executors = 3, expert-retries = 3 }");
        var config = UpmoeConfig.Load([file], ["upmoe.engine { sequence-executors = 4, expert-retries = 4 }"],
            ConfigurationFactory.ParseString("upmoe.engine.expert-retries = 5"));
        Assert.Equal((3, 4, 5), (config.GetInt("upmoe.engine.torch-threads"), config.GetInt("upmoe.engine.sequence-executors"),
            config.GetInt("upmoe.engine.expert-retries")));
        Assert.Equal(UpmoeConfig.Reference.GetString("upmoe.engine.device"), config.GetString("upmoe.engine.device"));
    }

    [Fact]
    public void A_missing_file_should_fail_naming_it() =>
        Assert.Contains("/no/such.conf", Assert.Throws<FileNotFoundException>(() => UpmoeConfig.Load(["/no/such.conf"])).Message);

    [Fact]
    public void A_placement_strategy_without_a_planner_should_be_an_error()
    {
        var settings = PlacementSettings.FromConfig(UpmoeConfig.Reference) with { Strategy = (PlacementStrategy)99 };
        var config = UniPerceiverConfig.Named("tiny");
        Assert.Throws<ArgumentOutOfRangeException>(() => PlacementPlanner.Plan(settings, config, () => throw new InvalidOperationException("no routes needed")));
    }
}
