namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// What one expert node's data plane lets peers cost it (upmoe.cluster.limits in hocon/reference.conf): every
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
    /// <summary>The data plane's share of <see cref="ClusterSettings.Limits"/> (upmoe.cluster.limits) and the frame size.</summary>
    public static DataPlaneLimits From(ClusterSettings settings)
    {
        var limits = settings.Limits ?? throw new ArgumentException("cluster settings without limits (read them with ClusterSettings.FromConfig).", nameof(settings));
        return new DataPlaneLimits(settings.MaximumFrameSize, limits.MaxConnections, limits.MaxConnectionsPerPeer, limits.HandshakeTimeout,
            limits.ReadTimeout, limits.IdleTimeout);
    }
}
