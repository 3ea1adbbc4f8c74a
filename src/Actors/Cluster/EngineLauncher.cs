using Akka.Configuration;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Starts the engine a configuration asks for, so that hosts, the CLI and the HTTP server need no cluster code:
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
    public static UniPerceiverEngine Start(Config config, EngineStartOptions? options = null)
    {
        options ??= new EngineStartOptions();
        if (!IsClusterProvider(config)) return UniPerceiverEngine.Start(config, options);
        var settings = ClusterSettings.FromConfig(config);
        var roles = config.GetStringList("akka.cluster.roles") ?? [];
        if (!roles.Contains(settings.FrontendRole))
            throw new ConfigurationException($"akka.actor.provider = cluster with roles [{string.Join(", ", roles)}]: an engine needs the " +
                $"'{settings.FrontendRole}' role (hocon/frontend.conf); a node with only the '{settings.ExpertRole}' role is started with `upmoe node --role {settings.ExpertRole}`.");
        return ClusterFrontend.Start(config, new ClusterFrontendOptions { Engine = options }).Engine;
    }

    /// <summary>True for <c>cluster</c> or the provider's type name.</summary>
    public static bool IsClusterProvider(Config config)
    {
        string provider = config.GetString("akka.actor.provider", "local") ?? "local";
        return provider.Equals("cluster", StringComparison.OrdinalIgnoreCase)
            || provider.StartsWith("Akka.Cluster.ClusterActorRefProvider", StringComparison.Ordinal);
    }
}
