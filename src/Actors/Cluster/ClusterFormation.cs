using Akka.Actor;
using Akka.Configuration;
using Akka.Discovery;
using Akka.Event;
using UniPerceiverMoe.Actors.Settings;
using AkkaCluster = Akka.Cluster.Cluster;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>How a node finds the cluster (<c>upmoe.cluster.discovery.method</c>).</summary>
public enum DiscoveryMethod
{
    /// <summary>akka.cluster.seed-nodes, or a seed joined programmatically.</summary>
    Seeds,
    /// <summary>The remoting endpoints listed in upmoe.cluster.discovery.endpoints (Akka.Discovery's config method).</summary>
    Config,
    /// <summary>The pods the Kubernetes API lists for a label selector (<see cref="KubernetesPods"/>).</summary>
    Kubernetes,
}

/// <summary>Typed view of <c>upmoe.cluster.discovery</c> (meanings and defaults in hocon/reference.conf).</summary>
public sealed record DiscoverySettings(
    DiscoveryMethod Method,
    string ServiceName,
    int RequiredContactPoints,
    TimeSpan StableMargin,
    TimeSpan Interval,
    TimeSpan ResolveTimeout,
    IReadOnlyList<string> Endpoints,
    string KubernetesNamespace,
    string KubernetesLabelSelector,
    string KubernetesPortName,
    string KubernetesApiServer = "")
{
    public static DiscoverySettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.cluster.discovery") ?? throw new ConfigurationException("missing section upmoe.cluster.discovery");
        var method = c.ReadString("method") switch
        {
            "seeds" => DiscoveryMethod.Seeds,
            "config" => DiscoveryMethod.Config,
            "kubernetes" => DiscoveryMethod.Kubernetes,
            var other => throw new ConfigurationException($"upmoe.cluster.discovery.method = '{other}': expected seeds, config or kubernetes."),
        };
        var s = new DiscoverySettings(
            method,
            c.ReadString("service-name"),
            c.ReadInt("required-contact-points"),
            c.ReadTimeSpan("stable-margin"),
            c.ReadTimeSpan("interval"),
            c.ReadTimeSpan("resolve-timeout"),
            (c.GetStringList("endpoints") ?? []).ToArray(),
            c.ReadString("kubernetes.namespace"),
            c.ReadString("kubernetes.pod-label-selector"),
            c.ReadString("kubernetes.port-name"),
            c.ReadString("kubernetes.api-server"));
        return s.Validate(config);
    }

    private DiscoverySettings Validate(Config config)
    {
        if (Method == DiscoveryMethod.Seeds) return this;
        string key = $"upmoe.cluster.discovery (method {Name})";
        if (string.IsNullOrWhiteSpace(ServiceName)) throw new ConfigurationException($"{key}: service-name is empty.");
        if (RequiredContactPoints < 1) throw new ConfigurationException($"{key}: required-contact-points must be >= 1 (got {RequiredContactPoints}).");
        foreach (var (name, value) in new[] { ("stable-margin", StableMargin), ("interval", Interval), ("resolve-timeout", ResolveTimeout) })
            if (value <= TimeSpan.Zero) throw new ConfigurationException($"{key}: {name} must be positive.");
        if (Method == DiscoveryMethod.Config)
        {
            if (Endpoints.Count < RequiredContactPoints)
                throw new ConfigurationException($"{key}: endpoints lists {Endpoints.Count} node(s), fewer than required-contact-points ({RequiredContactPoints}); list every node's remoting endpoint as \"host:port\".");
            foreach (var e in Endpoints)
                if (e.LastIndexOf(':') is var colon && (colon < 1 || !int.TryParse(e[(colon + 1)..], out int port) || port is < 1 or > 65535))
                    throw new ConfigurationException($"{key}: endpoint '{e}' is not \"host:port\" with a port in 1..65535.");
        }
        if (Method == DiscoveryMethod.Kubernetes && string.IsNullOrWhiteSpace(KubernetesLabelSelector))
            throw new ConfigurationException($"{key}: kubernetes.pod-label-selector is empty.");
        // Akka would join its seeds and discovery would join what it finds: two ways to pick a cluster.
        if ((config.GetStringList("akka.cluster.seed-nodes") ?? []).Count > 0)
            throw new ConfigurationException($"{key}: akka.cluster.seed-nodes must be empty (discovery finds the cluster); drop --seed or set upmoe.cluster.discovery.method = seeds.");
        // A discovered endpoint is a remoting port, which must be the one this node is known by.
        if (config.GetInt("akka.remote.dot-netty.tcp.port", 0) == 0)
            throw new ConfigurationException($"{key}: akka.remote.dot-netty.tcp.port must be fixed (not 0): the other nodes find this node by its remoting endpoint.");
        return this;
    }

    /// <summary>The method's name as written in the configuration.</summary>
    public string Name => Method.ToString().ToLowerInvariant();
}

/// <summary>
/// Cluster formation without a seed list. <see cref="Prepare"/> turns <c>upmoe.cluster.discovery</c> into the
/// akka.discovery settings of the node's actor system; <see cref="Start"/> then looks the service up (Akka.Discovery's
/// config method, or <see cref="KubernetesPods"/>)
/// until at least <see cref="DiscoverySettings.RequiredContactPoints"/> remoting endpoints are found and the answer
/// has not changed for the stable margin, and joins them as seed nodes in one order every node computes alike (by host,
/// then port). Akka's seed-node join then decides: the first of them forms the cluster only when none of the others
/// answers that it is already in one, and every other node joins whichever of them is. A node started later (a
/// restart, a scale-up) finds the existing members among its seeds and joins them. With method seeds both do nothing.
/// </summary>
/// <remarks>
/// Akka.Management's cluster bootstrap would do the same over an HTTP probe endpoint, but the served packages cannot
/// start that endpoint, nor Akka.Discovery.KubernetesApi list pods (see Directory.Packages.props), so the nodes agree through Akka's own seed-node protocol
/// over the (authenticated) remoting port instead. Two nodes can only both form a cluster when they see different
/// first endpoints at the same moment: a config list is the same everywhere; with Kubernetes, start at least
/// required-contact-points pods together and keep the stable margin above the time pods take to be listed.
/// </remarks>
public static class ClusterFormation
{
    /// <summary><paramref name="config"/> with the akka.discovery settings method config needs (akka.discovery keys set
    /// in the node's own files win); unchanged for methods seeds and kubernetes.</summary>
    public static Config Prepare(Config config)
    {
        var d = DiscoverySettings.FromConfig(config);
        if (d.Method != DiscoveryMethod.Config) return config;     // kubernetes: KubernetesPods reads the API itself
        var derived = ConfigurationFactory.ParseString(
            "akka.discovery.method = config\n"
            + $"akka.discovery.config.services.{UpmoeConfig.Quote(d.ServiceName)}.endpoints = [{string.Join(", ", d.Endpoints.Select(UpmoeConfig.Quote))}]");
        return config.WithFallback(derived).WithFallback(DiscoveryProvider.DefaultConfiguration());
    }

    /// <summary>Starts the discovery and join in the background on <paramref name="system"/> when <paramref name="config"/>
    /// asks for it (the system must have been created from <see cref="Prepare"/>'s configuration).</summary>
    public static void Start(ActorSystem system, Config config)
    {
        var d = DiscoverySettings.FromConfig(config);
        if (d.Method == DiscoveryMethod.Seeds) return;
        var cluster = AkkaCluster.Get(system);
        Func<CancellationToken, Task<IReadOnlyList<(string Host, int? Port)>>> lookup;
        if (d.Method == DiscoveryMethod.Config)
        {
            if (system.Settings.Config.GetString("akka.discovery.method", "") != "config")
                throw new ConfigurationException(
                    "upmoe.cluster.discovery.method = config, but this actor system's akka.discovery.method is not 'config': create it from ClusterFormation.Prepare(config).");
            var discovery = Discovery.Get(system).Default;
            var query = new Lookup(d.ServiceName, null, "tcp");
            lookup = async _ => (await discovery.Lookup(query, d.ResolveTimeout).ConfigureAwait(false)).Addresses.Select(t => (t.Host, t.Port)).ToArray();
        }
        else
        {
            var pods = new KubernetesPods(d.KubernetesApiServer, d.KubernetesNamespace, d.KubernetesLabelSelector.Replace("{0}", d.ServiceName, StringComparison.Ordinal), d.KubernetesPortName);
            system.RegisterOnTermination(pods.Dispose);
            lookup = pods.LookupAsync;
        }
        system.Log.Info("cluster formation: {0} discovery of service '{1}', joining once {2} endpoint(s) are found and stable for {3}",
            d.Name, d.ServiceName, d.RequiredContactPoints, d.StableMargin);
        _ = Task.Run(() => JoinAsync(system, cluster, lookup, d));
    }

    /// <summary>Looks up until the answer has at least RequiredContactPoints endpoints and has been the same for the stable
    /// margin, then joins them as seed nodes (sorted by host, then port); retries failed lookups every interval.</summary>
    internal static async Task JoinAsync(ActorSystem system, AkkaCluster cluster, Func<CancellationToken, Task<IReadOnlyList<(string Host, int? Port)>>> lookup, DiscoverySettings d)
    {
        var self = cluster.SelfAddress;
        IReadOnlyList<Address> seen = [];
        var seenSince = DateTime.UtcNow;
        while (!system.WhenTerminated.IsCompleted)
        {
            try
            {
                using var timeout = new CancellationTokenSource(d.ResolveTimeout);
                var targets = await lookup(timeout.Token).WaitAsync(d.ResolveTimeout).ConfigureAwait(false);
                // A target without a port (a pod without the named port) is reached on the remoting port all nodes share.
                var found = targets
                    .Select(t => new Address(self.Protocol, self.System, t.Host, t.Port ?? self.Port))
                    .Distinct()
                    .OrderBy(a => a.Host, StringComparer.Ordinal).ThenBy(a => a.Port)
                    .ToArray();
                if (!found.SequenceEqual(seen))
                {
                    seen = found;
                    seenSince = DateTime.UtcNow;
                    system.Log.Info("cluster formation: found {0}", string.Join(", ", found.Select(a => a.ToString())));
                }
                else if (found.Length >= d.RequiredContactPoints && DateTime.UtcNow - seenSince >= d.StableMargin)
                {
                    system.Log.Info("cluster formation: joining through seed nodes {0}", string.Join(", ", found.Select(a => a.ToString())));
                    cluster.JoinSeedNodes(found);
                    return;
                }
            }
            catch (Exception e)
            {
                system.Log.Warning("cluster formation: looking up '{0}' failed ({1}); retrying", d.ServiceName, e.GetBaseException().Message);
            }
            await Task.Delay(d.Interval).ConfigureAwait(false);
        }
    }
}
