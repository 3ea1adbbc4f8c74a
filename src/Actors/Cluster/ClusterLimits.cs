using UniPerceiverMoe.Actors.Settings;
using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>Typed view of <c>upmoe.cluster.limits</c> and the other bounds an expert node keeps (meanings and units
/// in hocon/reference.conf): data-plane connections and timeouts, the merge cache, idle passivation.</summary>
public sealed record ClusterLimits(
    int MaxConnections,
    int MaxConnectionsPerPeer,
    TimeSpan HandshakeTimeout,
    TimeSpan ReadTimeout,
    TimeSpan IdleTimeout,
    long MergeCacheBytes,
    TimeSpan? PassivateIdleAfter)
{
    public static ClusterLimits FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.cluster.limits") ?? throw new ConfigurationException("missing section upmoe.cluster.limits");
        var passivate = config.GetString("akka.cluster.sharding.passivate-idle-entity-after", "off");
        var limits = new ClusterLimits(
            c.ReadInt("max-connections"),
            c.ReadInt("max-connections-per-peer"),
            c.ReadTimeSpan("handshake-timeout"),
            c.ReadTimeSpan("read-timeout"),
            c.ReadTimeSpan("idle-timeout"),
            config.GetByteSize("upmoe.engine.merge-cache") ?? 0,
            passivate is "off" or "false" ? null : config.GetTimeSpan("akka.cluster.sharding.passivate-idle-entity-after"));
        return limits.Validate();
    }

    public ClusterLimits Validate()
    {
        if (MaxConnections < 1) throw new ConfigurationException($"upmoe.cluster.limits.max-connections must be >= 1 (got {MaxConnections}).");
        if (MaxConnectionsPerPeer < 1 || MaxConnectionsPerPeer > MaxConnections)
            throw new ConfigurationException($"upmoe.cluster.limits.max-connections-per-peer must be in 1..max-connections (got {MaxConnectionsPerPeer}).");
        foreach (var (name, value) in new[] { ("handshake-timeout", HandshakeTimeout), ("read-timeout", ReadTimeout), ("idle-timeout", IdleTimeout) })
            if (value <= TimeSpan.Zero) throw new ConfigurationException($"upmoe.cluster.limits.{name} must be positive.");
        if (MergeCacheBytes < 1) throw new ConfigurationException($"upmoe.engine.merge-cache must be positive (got {MergeCacheBytes} bytes).");
        return this;
    }

    /// <summary>Every limit by its metric name (shown on /metrics as upmoe_limit{name=...}); durations in seconds, sizes in bytes.</summary>
    public IReadOnlyDictionary<string, double> Snapshot() => new Dictionary<string, double>
    {
        ["data_plane_max_connections"] = MaxConnections,
        ["data_plane_max_connections_per_peer"] = MaxConnectionsPerPeer,
        ["data_plane_handshake_timeout_seconds"] = HandshakeTimeout.TotalSeconds,
        ["data_plane_read_timeout_seconds"] = ReadTimeout.TotalSeconds,
        ["data_plane_idle_timeout_seconds"] = IdleTimeout.TotalSeconds,
        ["merge_cache_bytes"] = MergeCacheBytes,
        ["passivate_idle_after_seconds"] = PassivateIdleAfter?.TotalSeconds ?? 0,
    };
}
