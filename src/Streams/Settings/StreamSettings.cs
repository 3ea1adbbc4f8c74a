using Akka.Configuration;

namespace UniPerceiverMoe.Streams.Settings;

/// <summary>What a stream does when the engine falls behind and its window buffer is full.</summary>
public enum OverloadPolicy
{
    /// <summary>Backpressure for unpaced files, <see cref="DropOldest"/> for live sources.</summary>
    Auto,
    /// <summary>Drop the oldest waiting window to admit the new one.</summary>
    DropOldest,
    /// <summary>Drop every waiting window, keep only the newest (a buffer of one).</summary>
    KeepLatest,
    /// <summary>Stop reading until there is room; nothing is dropped.</summary>
    Backpressure,
}

/// <summary>Typed view of <c>upmoe.streams</c> (meanings and units in hocon/reference.conf; no defaults here).</summary>
public sealed record StreamSettings(
    int Window,
    int Stride,
    TimeSpan Hop,
    double DecodeFps,
    int MaxBatch,
    TimeSpan MaxDelay,
    int BatchesInFlight,
    int InFlightPerStream,
    int BufferSize,
    OverloadPolicy Overload,
    TimeSpan IdleEviction,
    bool Realtime,
    bool Smoothing,
    double WatchThreshold,
    double WatchHysteresis,
    int MatchMemory,
    int MatchTop)
{
    /// <summary>Temporal position table size of the released models (MAX_FRAMES).</summary>
    public const int MaxFrames = 8;

    public static StreamSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.streams") ?? throw new ConfigurationException("missing section upmoe.streams");
        return new StreamSettings(
            c.GetInt("window"),
            c.GetInt("stride"),
            c.GetTimeSpan("hop"),
            c.GetDouble("decode-fps"),
            c.GetInt("max-batch"),
            c.GetTimeSpan("max-delay"),
            c.GetInt("batches-in-flight"),
            c.GetInt("in-flight-per-stream"),
            c.GetInt("buffer-size"),
            ParsePolicy(c.GetString("overload")),
            c.GetTimeSpan("idle-eviction"),
            c.GetBoolean("realtime"),
            c.GetBoolean("smoothing"),
            c.GetDouble("watch.threshold"),
            c.GetDouble("watch.hysteresis"),
            c.GetInt("match.memory"),
            c.GetInt("match.top")).Validate();
    }

    public StreamSettings Validate()
    {
        Check(Window is >= 1 and <= MaxFrames, $"window must be in 1..{MaxFrames} frames (got {Window})");
        Check(Stride >= 1, $"stride must be >= 1 frame (got {Stride})");
        Check(Hop > TimeSpan.Zero, $"hop must be positive (got {Hop})");
        Check(DecodeFps > 0, $"decode-fps must be positive (got {DecodeFps})");
        Check(MaxBatch >= 1, $"max-batch must be >= 1 (got {MaxBatch})");
        Check(MaxDelay > TimeSpan.Zero, $"max-delay must be positive (got {MaxDelay})");
        Check(BatchesInFlight >= 1, $"batches-in-flight must be >= 1 (got {BatchesInFlight})");
        Check(InFlightPerStream >= 1, $"in-flight-per-stream must be >= 1 (got {InFlightPerStream})");
        Check(BufferSize >= 1, $"buffer-size must be >= 1 (got {BufferSize})");
        Check(IdleEviction >= TimeSpan.Zero, $"idle-eviction must be >= 0 (got {IdleEviction})");
        Check(WatchThreshold is >= -1 and <= 1, $"watch.threshold must be a cosine similarity in -1..1 (got {WatchThreshold})");
        Check(WatchHysteresis is >= 0 and < 2, $"watch.hysteresis must be in 0..2 (got {WatchHysteresis})");
        Check(MatchMemory >= 1, $"match.memory must be >= 1 window (got {MatchMemory})");
        Check(MatchTop >= 1, $"match.top must be >= 1 window (got {MatchTop})");
        return this;
    }

    /// <summary>The policy a source gets: <see cref="OverloadPolicy.Auto"/> resolved by whether it is live.</summary>
    public OverloadPolicy PolicyFor(bool live) => Overload switch
    {
        OverloadPolicy.Auto => live ? OverloadPolicy.DropOldest : OverloadPolicy.Backpressure,
        var p => p,
    };

    /// <summary>Stride in frames of a <paramref name="fps"/> source (the reference scales by fps / 30).</summary>
    public int StrideFrames(double fps) => Math.Max(1, (int)Math.Round(Stride * fps / 30.0));

    /// <summary>Hop in frames of a <paramref name="fps"/> source.</summary>
    public int HopFrames(double fps) => Math.Max(1, (int)Math.Round(Hop.TotalSeconds * fps));

    public static OverloadPolicy ParsePolicy(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => OverloadPolicy.Auto,
        "drop-oldest" => OverloadPolicy.DropOldest,
        "keep-latest" => OverloadPolicy.KeepLatest,
        "backpressure" => OverloadPolicy.Backpressure,
        _ => throw new ConfigurationException(
            $"upmoe.streams.overload must be auto, drop-oldest, keep-latest or backpressure (got '{text}')."),
    };

    private static void Check(bool ok, string message)
    {
        if (!ok) throw new ConfigurationException("upmoe.streams." + message + ".");
    }
}
