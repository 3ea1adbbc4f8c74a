using Akka.Configuration;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.Settings;

public enum PlacementStrategy
{
    Single,
    PerLayer,
    PerExpert,
    NPerLayer,
    RouteAware,
}

/// <summary>Typed view of <c>upmoe.placement</c>. <paramref name="Devices"/>: the devices a process spreads its expert
/// groups over (<see cref="Placement.DeviceAssignment"/>); empty = every group on upmoe.engine.device.</summary>
public sealed record PlacementSettings(PlacementStrategy Strategy, int GroupsPerLayer, int Replicas, IReadOnlyList<MoeAttribute> Attributes,
    IReadOnlyList<string>? Devices = null)
{
    public static PlacementSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.placement") ?? throw new ConfigurationException("missing section upmoe.placement");
        var name = c.ReadString("strategy");
        var strategy = name switch
        {
            "single" => PlacementStrategy.Single,
            "per-layer" => PlacementStrategy.PerLayer,
            "per-expert" => PlacementStrategy.PerExpert,
            "n-per-layer" => PlacementStrategy.NPerLayer,
            "route-aware" => PlacementStrategy.RouteAware,
            _ => throw new ConfigurationException($"upmoe.placement.strategy '{name}' is not one of single, per-layer, per-expert, n-per-layer, route-aware."),
        };
        var attributes = c.GetStringList("attributes") is { Count: > 0 } list
            ? list.Select(a => Parse(a)).ToArray()
            : (IReadOnlyList<MoeAttribute>)MoeAttribute.Known;
        int perLayer = c.ReadInt("groups-per-layer"), replicas = c.ReadInt("replicas");
        if (perLayer < 1) throw new ConfigurationException($"upmoe.placement.groups-per-layer must be >= 1 (got {perLayer}).");
        if (replicas < 1) throw new ConfigurationException($"upmoe.placement.replicas must be >= 1 (got {replicas}).");
        var devices = c.GetStringList("devices").Select(d => Device(d)).ToArray();
        return new PlacementSettings(strategy, perLayer, replicas, attributes, devices);
    }

    /// <summary>The devices to spread groups over: <see cref="Devices"/>, or <paramref name="engineDevice"/> when none are listed.</summary>
    public IReadOnlyList<string> DevicesOr(string engineDevice) => Devices is { Count: > 0 } list ? list : [engineDevice];

    private static string Device(string d)
    {
        try { return Placement.DeviceAssignment.Validate(d, "upmoe.placement.devices"); }
        catch (ArgumentException e) { throw new ConfigurationException(e.Message); }
    }

    private static MoeAttribute Parse(string a)
    {
        try { return MoeAttribute.Parse(a); }
        catch (ArgumentException e) { throw new ConfigurationException($"upmoe.placement.attributes: {e.Message}"); }
    }
}
