using Akka.Actor;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.Engine;
using AkkaCluster = Akka.Cluster.Cluster;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>Programmatic extras for <see cref="ClusterFrontend.Start"/>.</summary>
public sealed record ClusterFrontendOptions
{
    /// <summary>Engine extras (a shared model, tokenizer, plan); its ExpertTransport is replaced by the cluster's.</summary>
    public EngineStartOptions Engine { get; init; } = new();

    /// <summary>Used only when this node also has the expert role (its Plan and SeedNodes are ignored: the engine's apply).</summary>
    public ExpertNodeOptions Experts { get; init; } = new();

    /// <summary>Seed nodes to join; null = akka.cluster.seed-nodes (which Akka joins by itself).</summary>
    public IReadOnlyList<Address>? SeedNodes { get; init; }
}

/// <summary>
/// A cluster member with the frontend role: the same engine as embedded mode (sequence executors, route dispatcher,
/// tasks) whose MoE linears go to expert-group shard entities through a <see cref="ClusterGroupTransport"/>. A node
/// with both roles hosts entities too and dispatches through its own region.
/// <code>
/// await using var frontend = ClusterFrontend.Start(UpmoeConfig.LoadFile("hocon/frontend.conf"));
/// var caption = await frontend.Engine.CaptionAsync(pixels);
/// </code>
/// </summary>
public sealed class ClusterFrontend : IAsyncDisposable
{
    private ClusterFrontend(UniPerceiverEngine engine, IActorRef region, ClusterSettings settings, ClusterCounters counters)
    {
        Engine = engine;
        Region = region;
        Settings = settings;
        Counters = counters;
    }

    public UniPerceiverEngine Engine { get; }
    /// <summary>The expert-group shard region (or proxy) this frontend dispatches through.</summary>
    public IActorRef Region { get; }
    public ClusterSettings Settings { get; }
    public ClusterCounters Counters { get; }
    public AkkaCluster Cluster => AkkaCluster.Get(Engine.System);
    public Address Address => Cluster.SelfAddress;

    /// <summary>Starts a frontend in an actor system of its own, created from <paramref name="config"/> (a cluster member).</summary>
    public static ClusterFrontend Start(Config config, ClusterFrontendOptions? options = null)
    {
        options ??= new ClusterFrontendOptions();
        // upmoe.cluster.discovery → Akka.Management / Akka.Discovery settings (unchanged for method seeds).
        config = ClusterFormation.Prepare(config);
        var settings = ClusterSettings.FromConfig(config);
        var counters = new ClusterCounters();
        IActorRef? region = null;
        var engine = UniPerceiverEngine.Start(config, options.Engine with { ExpertTransport = Transport(config, settings, options, counters, null, r => region = r) });
        return new ClusterFrontend(engine, region!, settings, counters);
    }

    /// <summary>
    /// Starts a frontend engine inside <paramref name="system"/>, a cluster member the caller owns (a host app that
    /// configured clustering itself, e.g. with Akka.Cluster.Hosting). <paramref name="proxy"/>: a shard-region proxy
    /// for <see cref="ExpertShardProtocol.TypeName"/> the host started (e.g. registered through Akka.Cluster.Hosting);
    /// null = started here as in <see cref="Start"/>. A node that also has the expert role hosts its own region.
    /// Disposing the frontend stops the engine and leaves the system (and its cluster membership) to its owner.
    /// </summary>
    public static ClusterFrontend StartIn(ActorSystem system, Config config, ClusterFrontendOptions? options = null, IActorRef? proxy = null)
    {
        options ??= new ClusterFrontendOptions();
        var settings = ClusterSettings.FromConfig(config);
        var counters = new ClusterCounters();
        IActorRef? region = null;
        var engine = UniPerceiverEngine.StartIn(system, config, options.Engine with { ExpertTransport = Transport(config, settings, options, counters, proxy, r => region = r) });
        return new ClusterFrontend(engine, region!, settings, counters);
    }

    /// <summary>The engine's expert transport: checks that the system is a frontend member, then dispatches through the
    /// node's own region (expert role too), <paramref name="proxy"/>, or a proxy started here.</summary>
    private static ExpertTransportFactory Transport(Config config, ClusterSettings settings, ClusterFrontendOptions options, ClusterCounters counters,
        IActorRef? proxy, Action<IActorRef> started) => (system, plan, model) =>
    {
        if (system is not ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider })
            throw new ConfigurationException("a frontend needs akka.actor.provider = cluster (see hocon/frontend.conf).");
        var cluster = AkkaCluster.Get(system);
        if (!cluster.SelfRoles.Contains(settings.FrontendRole))
            throw new ConfigurationException($"this node's akka.cluster.roles [{string.Join(", ", cluster.SelfRoles)}] lack the frontend role '{settings.FrontendRole}'.");
        string? ownDataEndpoint = null;
        IActorRef region;
        if (cluster.SelfRoles.Contains(settings.ExpertRole))
            (region, ownDataEndpoint) = ExpertNode.StartRegion(system, config, options.Experts with { Plan = plan }, counters);
        else
            region = proxy ?? ExpertGroupSharding.StartProxy(system, settings);
        started(region);
        if (options.SeedNodes is { Count: > 0 } seeds) cluster.JoinSeedNodes(seeds);
        ClusterFormation.Start(system, config);
        var transport = new ClusterGroupTransport(region, settings, model, counters, ownDataEndpoint);
        system.RegisterOnTermination(transport.Dispose);
        return settings.HopBatching ? new HopBatchingTransport(transport, settings.HopBatchMaxRows, settings.HopBatchMaxWait, counters.HopBatches, counters.HopBatchedRequests) : transport;
    };

    /// <summary>Completes when this node is Up in the cluster.</summary>
    public Task WhenUp() => Cluster.WhenSelfUp();

    /// <summary>Disposes the engine: with an actor system of its own (<see cref="Start"/>) that leaves the cluster
    /// (coordinated shutdown); inside a host's system (<see cref="StartIn"/>) only the engine's actors stop.</summary>
    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
