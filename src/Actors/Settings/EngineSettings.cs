using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Settings;

/// <summary>Typed view of <c>upmoe.engine</c> (meanings and units in hocon/reference.conf).</summary>
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
    bool FuseFfn = true,
    TimeSpan? ReplicaAttemptTimeout = null,
    TimeSpan? ReplicaSuspectPeriod = null,
    bool FuseTail = true,
    bool FuseLayer = true,
    long? MergeCacheBytes = null,
    Dispatch.HedgePolicy? Hedge = null)
{
    public static EngineSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.engine") ?? throw new ConfigurationException("missing section upmoe.engine");
        var s = new EngineSettings(
            c.GetString("checkpoint", ""),
            c.GetString("model-config", "auto"),
            c.GetString("device", "cpu"),
            c.GetInt("torch-threads", 0),
            c.GetInt("sequence-executors", 1),
            c.GetTimeSpan("expert-ask-timeout", TimeSpan.FromSeconds(30)),
            c.GetString("expert-dispatcher", "upmoe-expert-dispatcher"),
            c.GetInt("expert-retries", 1),
            c.GetString("vocab", ""),
            c.GetString("cache-dir", ""),
            c.GetBoolean("fuse-ffn", true),
            c.GetTimeSpan("replica-attempt-timeout", Dispatch.ReplicaPolicy.Default.ReplicaAttemptTimeout),
            c.GetTimeSpan("replica-suspect-period", Dispatch.ReplicaPolicy.Default.SuspectPeriod),
            c.GetBoolean("fuse-tail", true),
            c.GetBoolean("fuse-layer", true),
            c.GetByteSize("merge-cache") ?? throw new ConfigurationException("upmoe.engine.merge-cache is missing."),
            Dispatch.HedgePolicy.FromConfig(c.GetConfig("hedge") ?? throw new ConfigurationException("missing section upmoe.engine.hedge")));
        return s.Validate();
    }

    public EngineSettings Validate()
    {
        if (TorchThreads < 0) throw new ConfigurationException($"upmoe.engine.torch-threads must be >= 0 (got {TorchThreads}).");
        if (SequenceExecutors < 1) throw new ConfigurationException($"upmoe.engine.sequence-executors must be >= 1 (got {SequenceExecutors}).");
        if (ExpertAskTimeout <= TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.expert-ask-timeout must be positive.");
        if (ReplicaAttemptTimeout is { } attempt && attempt <= TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.replica-attempt-timeout must be positive.");
        if (ReplicaSuspectPeriod is { } suspect && suspect < TimeSpan.Zero) throw new ConfigurationException("upmoe.engine.replica-suspect-period must be >= 0.");
        if (MergeCacheBytes is < 1) throw new ConfigurationException($"upmoe.engine.merge-cache must be positive (got {MergeCacheBytes} bytes).");
        if (ExpertRetries < 0) throw new ConfigurationException($"upmoe.engine.expert-retries must be >= 0 (got {ExpertRetries}).");
        return this;
    }

    /// <summary>How the dispatcher uses a route part's replicas (<see cref="Dispatch.ExpertGroupClient"/>).</summary>
    public Dispatch.ReplicaPolicy ReplicaPolicy => new(
        ExpertAskTimeout, ExpertRetries, ReplicaAttemptTimeout ?? Dispatch.ReplicaPolicy.Default.ReplicaAttemptTimeout, ReplicaSuspectPeriod ?? Dispatch.ReplicaPolicy.Default.SuspectPeriod)
    {
        Hedge = Hedge,
    };

    /// <summary>The byte budget of each expert group's merged-weight cache, its evictions counted in <paramref name="evictions"/>
    /// (null when the settings were built without one: unbounded).</summary>
    public ExpertGroups.MergeCacheLimit? MergeCache(Counter evictions) => MergeCacheBytes is { } bytes ? new(bytes, evictions) : null;

    /// <summary>The cache directory: the setting, else $UPMOE_CACHE, else ~/.cache/upmoe.</summary>
    public string ResolvedCacheDir =>
        CacheDir.Length > 0 ? CacheDir
        : Environment.GetEnvironmentVariable("UPMOE_CACHE") is { Length: > 0 } env ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "upmoe");
}
