using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Settings;

/// <summary>Typed view of <c>upmoe.engine</c> (meanings, units and the only defaults in hocon/reference.conf).
/// <paramref name="Hedge"/> is null when upmoe.engine.hedge.enabled is off.</summary>
public sealed record EngineSettings(
    string Checkpoint,
    string ModelConfig,
    string Device,
    int TorchThreads,
    int SequenceExecutors,
    TimeSpan ExpertAskTimeout,
    string ExpertDispatcher,
    int ExpertRetries,
    string Vocab,
    string CacheDir,
    bool FuseFfn,
    TimeSpan ReplicaAttemptTimeout,
    TimeSpan ReplicaSuspectPeriod,
    bool FuseTail,
    bool FuseLayer,
    long MergeCacheBytes,
    Dispatch.HedgePolicy? Hedge,
    TimeSpan NativeHeapTrimInterval,
    TimeSpan NativeHeapTrimAfterIdle,
    bool NativeHeapRetainFreed)
{
    public static EngineSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.engine") ?? throw new ConfigurationException("missing section upmoe.engine");
        var s = new EngineSettings(
            c.ReadString("checkpoint"),
            c.ReadString("model-config"),
            c.ReadString("device"),
            c.ReadInt("torch-threads"),
            c.ReadInt("sequence-executors"),
            c.ReadTimeSpan("expert-ask-timeout"),
            c.ReadString("expert-dispatcher"),
            c.ReadInt("expert-retries"),
            c.ReadString("vocab"),
            c.ReadString("cache-dir"),
            c.ReadBoolean("fuse-ffn"),
            c.ReadTimeSpan("replica-attempt-timeout"),
            c.ReadTimeSpan("replica-suspect-period"),
            c.ReadBoolean("fuse-tail"),
            c.ReadBoolean("fuse-layer"),
            c.GetByteSize("merge-cache") ?? throw new ConfigurationException("upmoe.engine.merge-cache is missing."),
            Dispatch.HedgePolicy.FromConfig(c.GetConfig("hedge") ?? throw new ConfigurationException("missing section upmoe.engine.hedge")),
            c.ReadTimeSpan("native-heap-trim-interval"),
            c.ReadTimeSpan("native-heap-trim-after-idle"),
            c.ReadBoolean("native-heap-retain-freed"));
        return s.Validate();
    }

    public EngineSettings Validate()
    {
        if (TorchThreads < 0) throw new ConfigurationException($"upmoe.engine.torch-threads must be >= 0 (got {TorchThreads}).");
        if (SequenceExecutors < 1) throw new ConfigurationException($"upmoe.engine.sequence-executors must be >= 1 (got {SequenceExecutors}).");
        if (ExpertAskTimeout <= TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.expert-ask-timeout must be positive.");
        if (ReplicaAttemptTimeout <= TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.replica-attempt-timeout must be positive.");
        if (ReplicaSuspectPeriod < TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.replica-suspect-period must be >= 0.");
        if (MergeCacheBytes < 1) throw new ConfigurationException($"upmoe.engine.merge-cache must be positive (got {MergeCacheBytes} bytes).");
        if (NativeHeapTrimInterval < TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.native-heap-trim-interval must be >= 0 (0 = off).");
        if (NativeHeapTrimAfterIdle < TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.native-heap-trim-after-idle must be >= 0.");
        if (ExpertRetries < 0) throw new ConfigurationException($"upmoe.engine.expert-retries must be >= 0 (got {ExpertRetries}).");
        return this;
    }

    /// <summary>How the dispatcher uses a route part's replicas (<see cref="Dispatch.ExpertGroupClient"/>).</summary>
    public Dispatch.ReplicaPolicy ReplicaPolicy => new(ExpertAskTimeout, ExpertRetries, ReplicaAttemptTimeout, ReplicaSuspectPeriod)
    {
        Hedge = Hedge,
    };

    /// <summary>The byte budget of each expert group's merged-weight cache, its evictions counted in <paramref name="evictions"/>.</summary>
    public ExpertGroups.MergeCacheLimit? MergeCache(Counter evictions) => new(MergeCacheBytes, evictions);

    /// <summary>The cache directory: the setting, else $UPMOE_CACHE, else ~/.cache/upmoe.</summary>
    public string ResolvedCacheDir =>
        CacheDir.Length > 0 ? CacheDir
        : Environment.GetEnvironmentVariable("UPMOE_CACHE") is { Length: > 0 } env ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "upmoe");
}
