using Akka.Actor;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Starts the engine a configuration (<see cref="Start"/>) or a host's actor system (<see cref="StartIn"/>) asks for,
/// so that hosts, the CLI and the HTTP server need no cluster code:
/// <list type="bullet">
/// <item><c>akka.actor.provider = local</c> (the default): the embedded engine.</item>
/// <item><c>provider = cluster</c> with the frontend role (hocon/frontend.conf): a <see cref="ClusterFrontend"/> whose
/// expert groups are shard entities on the cluster's expert nodes; its engine is returned, and disposing that engine
/// leaves the cluster.</item>
/// <item><c>provider = cluster</c> without the frontend role: refused (an expert-only node runs <c>upmoe node</c>).</item>
/// </list>
/// </summary>
public static class EngineLauncher
{
    /// <summary>Starts the engine in an actor system of its own, created from <paramref name="config"/>.</summary>
    public static UniPerceiverEngine Start(Config config, EngineStartOptions? options = null)
    {
        options ??= new EngineStartOptions();
        if (!IsClusterProvider(config)) return UniPerceiverEngine.Start(config, options);
        RequireFrontendRole(config, config.GetStringList("akka.cluster.roles") ?? []);
        return ClusterFrontend.Start(config, new ClusterFrontendOptions { Engine = options }).Engine;
    }

    /// <summary>
    /// Starts the engine inside <paramref name="system"/>, which the caller owns (a host app's actor system). The
    /// system decides the mode: a cluster member (akka.actor.provider = cluster) runs a frontend, dispatching through
    /// <paramref name="proxy"/> when the host started the expert-group region proxy itself; otherwise the engine is
    /// embedded. Engine settings (upmoe.*) come from <paramref name="config"/>.
    /// </summary>
    public static UniPerceiverEngine StartIn(ActorSystem system, Config config, EngineStartOptions? options = null, IActorRef? proxy = null)
    {
        options ??= new EngineStartOptions();
        if (system is not ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider }) return UniPerceiverEngine.StartIn(system, config, options);
        RequireFrontendRole(config, Akka.Cluster.Cluster.Get(system).SelfRoles);
        return ClusterFrontend.StartIn(system, config, new ClusterFrontendOptions { Engine = options }, proxy).Engine;
    }

    private static void RequireFrontendRole(Config config, IEnumerable<string> roles)
    {
        var settings = ClusterSettings.FromConfig(config);
        if (!roles.Contains(settings.FrontendRole))
            throw new ConfigurationException($"akka.actor.provider = cluster with roles [{string.Join(", ", roles)}]: an engine needs the " +
                $"'{settings.FrontendRole}' role (hocon/frontend.conf); a node with only the '{settings.ExpertRole}' role is started with `upmoe node --role {settings.ExpertRole}`.");
    }

    /// <summary>True for <c>cluster</c> or the provider's type name.</summary>
    public static bool IsClusterProvider(Config config)
    {
        string provider = config.GetString("akka.actor.provider", "local") ?? "local";
        return provider.Equals("cluster", StringComparison.OrdinalIgnoreCase)
            || provider.StartsWith("Akka.Cluster.ClusterActorRefProvider", StringComparison.Ordinal);
    }
}
