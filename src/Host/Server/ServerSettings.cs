using UniPerceiverMoe.Actors.Settings;
using System.Net;
using Akka.Configuration;

namespace UniPerceiverMoe.Host.Server;

/// <summary>Typed view of <c>upmoe.server</c> (meanings and units in hocon/reference.conf; no defaults here).</summary>
public sealed record ServerSettings(string Bind, int Port, long MaxUpload, string? ApiKey, int KeptStreams, int RecentCaptions,
    TimeSpan StatsInterval, Streams.StreamSourcePolicy? StreamSources = null)
{
    /// <summary>Reads and validates the section; an empty api-key falls back to $UPMOE_API_KEY.</summary>
    public static ServerSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.server") ?? throw new ConfigurationException("missing section upmoe.server");
        string key = c.ReadString("api-key");
        if (key.Length == 0) key = Environment.GetEnvironmentVariable("UPMOE_API_KEY") ?? "";
        string bind = c.ReadString("bind");
        return new ServerSettings(
            bind,
            c.ReadInt("port"),
            c.GetByteSize("max-upload") ?? throw new ConfigurationException("upmoe.server.max-upload is not set."),
            key.Length == 0 ? null : key,
            c.ReadInt("kept-streams"),
            c.ReadInt("recent-captions"),
            c.ReadTimeSpan("stats-interval"),
            Streams.StreamSourcePolicy.FromConfig(config, IsLoopback(bind))).Validate();
    }

    public ServerSettings Validate()
    {
        Check(Port is >= 0 and <= 65535, $"port must be in 0..65535 (got {Port})");
        Check(Address() is not null, $"bind must be an IP address or localhost (got '{Bind}')");
        Check(MaxUpload >= 1024, $"max-upload must be at least 1KiB (got {MaxUpload} bytes)");
        Check(KeptStreams >= 0, $"kept-streams must be >= 0 (got {KeptStreams})");
        Check(RecentCaptions >= 1, $"recent-captions must be >= 1 (got {RecentCaptions})");
        Check(StatsInterval >= TimeSpan.FromMilliseconds(50), $"stats-interval must be at least 50ms (got {StatsInterval})");
        return this;
    }

    /// <summary>True when only this machine can reach the server (127.0.0.0/8, ::1, localhost).</summary>
    public static bool IsLoopback(string bind) =>
        bind.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(bind, out var a) && IPAddress.IsLoopback(a));

    /// <summary>The address to listen on: localhost means the IPv4 loopback.</summary>
    public IPAddress? Address() =>
        Bind.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.TryParse(Bind, out var a) ? a : null;

    private static void Check(bool ok, string message)
    {
        if (!ok) throw new ConfigurationException("upmoe.server." + message + ".");
    }
}
