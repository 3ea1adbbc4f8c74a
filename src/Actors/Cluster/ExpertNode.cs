using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;
using AkkaCluster = Akka.Cluster.Cluster;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>Programmatic extras for <see cref="ExpertNode.Start"/>; everything else comes from HOCON.</summary>
public sealed record ExpertNodeOptions
{
    /// <summary>The placement; null = upmoe.placement over the checkpoint's model config (must match the frontends').</summary>
    public PlacementPlan? Plan { get; init; }

    /// <summary>Where groups get their experts; null = <see cref="CheckpointExpertWeights"/> from upmoe.engine.checkpoint.</summary>
    public Func<ExpertGroupSpec, IExpertWeightSource>? WeightSource { get; init; }

    /// <summary>Fault injection for tests and drills.</summary>
    public ExpertGroupFaults? Faults { get; init; }

    /// <summary>Seed nodes to join; null = akka.cluster.seed-nodes (which Akka joins by itself).</summary>
    public IReadOnlyList<Address>? SeedNodes { get; init; }
}

/// <summary>
/// A cluster member with the expert role: hosts expert-group shard entities, each loading its experts from this
/// node's checkpoint on first use. <see cref="LeaveAsync"/> (or disposal) leaves gracefully: shards are handed off
/// to the other expert nodes after their in-flight requests are answered.
/// <code>
/// await using var node = ExpertNode.Start(UpmoeConfig.LoadFile("hocon/experts.conf"));
/// </code>
/// </summary>
public sealed class ExpertNode : IAsyncDisposable
{
    private ExpertNode(ActorSystem system, IActorRef region, PlacementPlan plan, ClusterCounters counters, string? dataEndpoint)
    {
        DataEndpoint = dataEndpoint;
        System = system;
        Region = region;
        Plan = plan;
        Counters = counters;
    }

    public ActorSystem System { get; }
    public IActorRef Region { get; }
    public PlacementPlan Plan { get; }
    public ClusterCounters Counters { get; }
    /// <summary>"host:port" of this node's data plane (null when upmoe.cluster.data-plane is off).</summary>
    public string? DataEndpoint { get; }
    public AkkaCluster Cluster => AkkaCluster.Get(System);
    public Address Address => Cluster.SelfAddress;

    public static ExpertNode Start(Config config, ExpertNodeOptions? options = null)
    {
        options ??= new ExpertNodeOptions();
        // upmoe.cluster.discovery → Akka.Management / Akka.Discovery settings (unchanged for method seeds).
        config = ClusterFormation.Prepare(config);
        if (options.SeedNodes is { Count: > 0 } && DiscoverySettings.FromConfig(config).Method != DiscoveryMethod.Seeds)
            throw new ConfigurationException("seed nodes were given, but upmoe.cluster.discovery.method is not seeds: the cluster bootstrap finds the cluster.");
        var engine = EngineSettings.FromConfig(config);
        // Refuses an unauthenticated node on a reachable address before anything binds a port.
        var security = ClusterSettings.FromConfig(config).Security!;
        if (engine.TorchThreads > 0) set_num_threads(engine.TorchThreads);
        var plan = options.Plan ?? PlanFromConfig(config, engine);
        var system = Security.RemoteTls.CreateActorSystem(UniPerceiverEngine.SystemName, config);
        try
        {
            var counters = new ClusterCounters();
            if (security.Warning is { } warning) system.Log.Warning(warning);
            var (region, dataEndpoint) = StartRegion(system, config, options with { Plan = plan }, counters);
            if (options.SeedNodes is { Count: > 0 } seeds) AkkaCluster.Get(system).JoinSeedNodes(seeds);
            ClusterFormation.Start(system, config);
            return new ExpertNode(system, region, plan, counters, dataEndpoint);
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(30));
            throw;
        }
    }

    /// <summary>Starts the shard region on <paramref name="system"/> (a cluster member whose roles include the expert role)
    /// and, when enabled, the node's data plane; returns the region and the data-plane endpoint (null: none).</summary>
    internal static (IActorRef Region, string? DataEndpoint) StartRegion(ActorSystem system, Config config, ExpertNodeOptions options, ClusterCounters counters)
    {
        var engine = EngineSettings.FromConfig(config);
        var settings = ClusterSettings.FromConfig(config);
        if (system is not ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider })
            throw new ConfigurationException("an expert node needs akka.actor.provider = cluster (see hocon/experts.conf).");
        var cluster = AkkaCluster.Get(system);
        if (!cluster.SelfRoles.Contains(settings.ExpertRole))
            throw new ConfigurationException($"this node's akka.cluster.roles [{string.Join(", ", cluster.SelfRoles)}] lack the expert role '{settings.ExpertRole}'.");
        var plan = options.Plan ?? throw new ArgumentException("a plan is required.", nameof(options));
        var devices = NodeDevices(config, engine);
        var load = options.WeightSource;
        if (load is null)
        {
            if (string.IsNullOrWhiteSpace(engine.Checkpoint))
                throw new ConfigurationException("upmoe.engine.checkpoint is not set: an expert node loads its groups' experts from it.");
            load = spec => CheckpointExpertWeights.Load(engine.Checkpoint, spec, new Device(devices.Of(spec.Id)));
        }
        // The data plane is bound before the region starts (entities tell frontends its endpoint) and lives as long
        // as the actor system.
        var dataPlane = settings.DataPlane
            ? DataPlaneServer.Bind(settings.Hostname, settings.PublicHostname, settings.DataPlanePort, DataPlaneLimits.From(settings),
                DataPlaneSecurity.From(settings.Security), settings.AttemptTimeout, system.Log, counters)
            : null;
        try
        {
            var context = new ExpertNodeContext(plan, load, settings.WireDtype, engine.ExpertAskTimeout, devices,
                options.Faults ?? ExpertGroupFaults.None, counters, cluster.SelfAddress.ToString(), dataPlane?.Endpoint,
                dataPlane is null ? null : new DirectGroups(), engine.MergeCache(counters.MergeEvictions));
            var region = ExpertGroupSharding.StartRegion(system, settings, context);
            if (dataPlane is not null)
            {
                dataPlane.Serve(system, region, context);
                system.RegisterOnTermination(dataPlane.Dispose);
                system.Log.Info("expert node {0}: data plane on {1}", cluster.SelfAddress, dataPlane.Endpoint);
            }
            return (region, dataPlane?.Endpoint);
        }
        catch
        {
            dataPlane?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The devices this node's groups spread over: upmoe.placement.devices (default: upmoe.engine.device), balanced by
    /// expert bytes among the groups the node hosts at the time (<see cref="DeviceBalancer"/>). Expert sizes come from
    /// the checkpoint's model config when there is a checkpoint, else every expert counts the same.
    /// </summary>
    internal static DeviceBalancer NodeDevices(Config config, EngineSettings engine)
    {
        var devices = PlacementSettings.FromConfig(config).DevicesOr(engine.Device);
        Func<ExpertKey, long> bytes = devices.Count == 1 || string.IsNullOrWhiteSpace(engine.Checkpoint)
            ? _ => 1
            : DeviceAssignment.ExpertBytes(ModelConfigResolver.Resolve(engine.ModelConfig, engine.Checkpoint));
        return new DeviceBalancer(devices, bytes);
    }

    /// <summary>
    /// The plan from upmoe.placement and the checkpoint's model config. Only route-aware placement needs the gates:
    /// the model is loaded once for them and freed before any group starts.
    /// </summary>
    public static PlacementPlan PlanFromConfig(Config config, EngineSettings engine)
    {
        if (string.IsNullOrWhiteSpace(engine.Checkpoint))
            throw new ConfigurationException("upmoe.engine.checkpoint is not set: the placement is computed from its model config.");
        var model = ModelConfigResolver.Resolve(engine.ModelConfig, engine.Checkpoint);
        UniPerceiverMoe.Model.Modules.UniPerceiverMoeModel? loaded = null;
        try
        {
            return PlacementPlanner.Plan(PlacementSettings.FromConfig(config), model, () => new RouteTable(loaded = ModelLoader.Load(engine.Checkpoint, model)));
        }
        finally
        {
            loaded?.Dispose();
        }
    }

    /// <summary>Completes when this node is Up in the cluster.</summary>
    public Task WhenUp() => Cluster.WhenSelfUp();

    /// <summary>Leaves the cluster gracefully (shards handed off) and completes once this node is removed.</summary>
    public Task LeaveAsync() => Cluster.LeaveAsync();

    /// <summary>Leaves (through coordinated shutdown) and terminates the actor system.</summary>
    public async ValueTask DisposeAsync() => await System.Terminate().ConfigureAwait(false);
}
