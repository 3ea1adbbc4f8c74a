using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// What one expert node's data plane lets peers cost it (upmoe.cluster.data-plane in hocon/reference.conf): every
/// connection holds a thread and at most one body buffer, so connections are capped in all and per peer address,
/// and a connection that does not authenticate in time, stalls inside a frame, or sends nothing is closed.
/// </summary>
/// <param name="MaxBodyBytes">Largest frame body accepted (akka.remote.dot-netty.tcp.maximum-frame-size, as on the Akka wire).</param>
public sealed record DataPlaneLimits(
    long MaxBodyBytes,
    int MaxConnections,
    int MaxConnectionsPerPeer,
    TimeSpan HandshakeTimeout,
    TimeSpan ReadTimeout,
    TimeSpan IdleTimeout)
{
    private const string Section = "upmoe.cluster.data-plane";

    /// <summary>Reads <c>upmoe.cluster.data-plane</c> (every key has its default in hocon/reference.conf) and the frame size.</summary>
    public static DataPlaneLimits FromConfig(Config config)
    {
        var limits = new DataPlaneLimits(
            config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size") ?? throw Missing("akka.remote.dot-netty.tcp.maximum-frame-size"),
            Int(config, "max-connections"),
            Int(config, "max-connections-per-peer"),
            Time(config, "handshake-timeout"),
            Time(config, "read-timeout"),
            Time(config, "idle-timeout"));
        if (limits.MaxConnections < 1 || limits.MaxConnectionsPerPeer < 1)
            throw new ConfigurationException($"{Section}.max-connections and max-connections-per-peer must be >= 1.");
        if (limits.HandshakeTimeout <= TimeSpan.Zero || limits.ReadTimeout <= TimeSpan.Zero || limits.IdleTimeout <= TimeSpan.Zero)
            throw new ConfigurationException($"{Section}.handshake-timeout, read-timeout and idle-timeout must be positive.");
        return limits;
    }

    private static int Int(Config config, string key) =>
        config.HasPath($"{Section}.{key}") ? config.GetInt($"{Section}.{key}") : throw Missing($"{Section}.{key}");

    private static TimeSpan Time(Config config, string key) =>
        config.HasPath($"{Section}.{key}") ? config.GetTimeSpan($"{Section}.{key}") : throw Missing($"{Section}.{key}");

    private static ConfigurationException Missing(string key) => new($"{key} is missing (hocon/reference.conf defines it).");
}
