using UniPerceiverMoe.Actors.Settings;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster.Security;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Typed view of <c>upmoe.cluster</c> plus the remote frame size it must respect (meanings and units in
/// hocon/reference.conf). Read on every node; frontends and expert nodes must agree on the roles and the shard count.
/// </summary>
public sealed record ClusterSettings(
    string ExpertRole,
    string FrontendRole,
    int Shards,
    WireDtype WireDtype,
    TimeSpan AttemptTimeout,
    TimeSpan RetryBackoffMin,
    TimeSpan RetryBackoffMax,
    long MaximumFrameSize,
    long FrameHeadroom,
    bool DataPlane,
    int DataPlanePort,
    string Hostname,
    string PublicHostname,
    ClusterSecuritySettings Security,
    ClusterLimits Limits,
    int HopBatchMaxRows,
    TimeSpan HopBatchMaxWait)
{
    /// <summary>Hop batching is on (upmoe.cluster.hop-batching.max-rows above 0).</summary>
    public bool HopBatching => HopBatchMaxRows > 0;

    public static ClusterSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.cluster") ?? throw new ConfigurationException("missing section upmoe.cluster");
        WireDtype dtype;
        try { dtype = TensorPayloads.ParseDtype(c.ReadString("wire-dtype"), "upmoe.cluster.wire-dtype"); }
        catch (InvalidDataException e) { throw new ConfigurationException(e.Message); }
        string hostname = config.GetString("akka.remote.dot-netty.tcp.hostname", "127.0.0.1") is { Length: > 0 } host ? host : "127.0.0.1";
        var s = new ClusterSettings(
            c.ReadString("expert-role"),
            c.ReadString("frontend-role"),
            c.ReadInt("shards"),
            dtype,
            c.ReadTimeSpan("attempt-timeout"),
            c.ReadTimeSpan("retry-backoff-min"),
            c.ReadTimeSpan("retry-backoff-max"),
            config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size") ?? 0,
            c.GetByteSize("frame-headroom") ?? throw new ConfigurationException("upmoe.cluster.frame-headroom is missing."),
            // With TLS on, the data plane authenticates and encrypts with the remoting certificate (DataPlaneSecurity).
            c.ReadBoolean("data-plane.enabled"),
            c.ReadInt("data-plane.port"),
            hostname,
            // Frontends dial what remoting advertises: public-hostname behind NAT or a 0.0.0.0 bind, else hostname.
            config.GetString("akka.remote.dot-netty.tcp.public-hostname", "") is { Length: > 0 } advertised ? advertised : hostname,
            // A node others could reach and nobody could authenticate never starts (upmoe.cluster.insecure overrides).
            ClusterSecuritySettings.FromConfig(config).EnsureStartable(),
            ClusterLimits.FromConfig(config),
            c.ReadBoolean("hop-batching.enabled") ? c.ReadInt("hop-batching.max-rows") : 0,
            c.ReadTimeSpan("hop-batching.max-wait"));
        return s.Validate();
    }

    public ClusterSettings Validate()
    {
        if (string.IsNullOrWhiteSpace(ExpertRole)) throw new ConfigurationException("upmoe.cluster.expert-role is empty.");
        if (string.IsNullOrWhiteSpace(FrontendRole)) throw new ConfigurationException("upmoe.cluster.frontend-role is empty.");
        if (Shards < 1) throw new ConfigurationException($"upmoe.cluster.shards must be >= 1 (got {Shards}).");
        if (AttemptTimeout <= TimeSpan.Zero) throw new ConfigurationException("upmoe.cluster.attempt-timeout must be positive.");
        if (RetryBackoffMin <= TimeSpan.Zero || RetryBackoffMax < RetryBackoffMin)
            throw new ConfigurationException("upmoe.cluster.retry-backoff-min must be positive and <= retry-backoff-max.");
        if (DataPlanePort is < 0 or > 65535) throw new ConfigurationException($"upmoe.cluster.data-plane.port must be in 0..65535 (got {DataPlanePort}).");
        if (HopBatchMaxRows < 0) throw new ConfigurationException($"upmoe.cluster.hop-batching.max-rows must be positive (got {HopBatchMaxRows}).");
        if (HopBatching && HopBatchMaxWait <= TimeSpan.Zero)
            throw new ConfigurationException($"upmoe.cluster.hop-batching.max-wait must be positive (got {HopBatchMaxWait}).");
        if (FrameHeadroom < 1024) throw new ConfigurationException($"upmoe.cluster.frame-headroom must be >= 1 KiB (got {FrameHeadroom} bytes).");
        if (MaximumFrameSize < FrameHeadroom + 64 * 1024)
            throw new ConfigurationException(
                $"akka.remote.dot-netty.tcp.maximum-frame-size ({MaximumFrameSize} bytes) must exceed upmoe.cluster.frame-headroom by at least 64 KiB.");
        return this;
    }

    /// <summary>Largest tensor payload (bytes of data) one wire message may carry; larger tensors are split by rows.</summary>
    public long MaxPayloadBytes => MaximumFrameSize - FrameHeadroom;
}
