using Akka.Actor;
using Prometheus;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Host.Hosting;

namespace UniPerceiverMoe.Host.Server.Metrics;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (two servers in one process never share series).
/// Measured where they happen: HTTP requests, per-stage durations (upload read, decode, each engine task, the
/// streams' batched engine calls) and stream batch sizes. Read from the engine at every scrape: its counters, the
/// expert groups' load and compute time (asked from each group actor), readiness and cluster members (0: embedded).
/// Stream series are kept by <see cref="StreamMetrics"/>.
/// </summary>
public sealed class UpmoeMetrics
{
    private static readonly TimeSpan GroupAskTimeout = TimeSpan.FromSeconds(2);
    private readonly UniPerceiverMoeRuntime runtime;
    private readonly Dictionary<string, Counter> engineCounters = new();
    private readonly Counter groupRequests, groupTokens, groupComputeSeconds, groupComputeCpuSeconds;
    private readonly Gauge groupMeanCompute, groupMergedRoutes, groupMergedBytes, groupExperts, groupUp, groupDevice, ready, clusterMembers;

    public UpmoeMetrics(UniPerceiverMoeRuntime runtime)
    {
        this.runtime = runtime;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        Factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        HttpRequests = Factory.CreateCounter("upmoe_http_requests_total", "HTTP requests answered, by route, method and status.", ["route", "method", "status"]);
        HttpDuration = Factory.CreateHistogram("upmoe_http_request_duration_seconds", "HTTP request duration by route (event streams: until closed).",
            new HistogramConfiguration { LabelNames = ["route"], Buckets = LatencyBuckets });
        HttpInFlight = Factory.CreateGauge("upmoe_http_requests_in_flight", "HTTP requests being served now.");
        Stages = Factory.CreateHistogram("upmoe_stage_duration_seconds",
            "Duration of a pipeline stage: upload (reading the form), decode (decode + preprocess an upload), caption/classify/retrieve/embed (engine), stream_batch (one batched engine call of the caption streams).",
            new HistogramConfiguration { LabelNames = ["stage"], Buckets = LatencyBuckets });
        BatchSize = Factory.CreateHistogram("upmoe_stream_batch_size", "Windows per batched engine call (cross-stream micro-batches).",
            new HistogramConfiguration { Buckets = Histogram.LinearBuckets(1, 1, 16) });
        groupRequests = Factory.CreateCounter("upmoe_expert_group_requests_total", "Requests an expert group served (load).", ["group"]);
        groupTokens = Factory.CreateCounter("upmoe_expert_group_tokens_total", "Tokens an expert group computed (load).", ["group"]);
        groupComputeSeconds = Factory.CreateCounter("upmoe_expert_group_compute_seconds_total", "Time an expert group spent computing.", ["group"]);
        groupComputeCpuSeconds = Factory.CreateCounter("upmoe_expert_group_compute_cpu_seconds_total",
            "CPU time the threads computing for an expert group used (less than the compute time when they were preempted).", ["group"]);
        groupMeanCompute = Factory.CreateGauge("upmoe_expert_group_mean_compute_seconds", "Mean compute time per request of an expert group (latency).", ["group"]);
        groupMergedRoutes = Factory.CreateGauge("upmoe_expert_group_merged_routes", "Routes whose merged weights a group has cached.", ["group"]);
        groupMergedBytes = Factory.CreateGauge("upmoe_expert_group_merged_bytes", "Bytes of merged route weights a group holds.", ["group"]);
        groupExperts = Factory.CreateGauge("upmoe_expert_group_experts", "(layer, expert) pairs a group holds (placement).", ["group"]);
        groupUp = Factory.CreateGauge("upmoe_expert_group_up", "1 when the group answered the last scrape's stats request.", ["group"]);
        groupDevice = Factory.CreateGauge("upmoe_expert_group_device", "1 for the device an expert group computes on (upmoe.placement.devices).", ["group", "device"]);
        ready = Factory.CreateGauge("upmoe_engine_ready", "1 when the engine is loaded and serving.");
        clusterMembers = Factory.CreateGauge("upmoe_cluster_members", "Cluster members Up as seen by this node (0: embedded mode, no cluster).");
        Registry.AddBeforeCollectCallback(CollectEngineAsync);
    }

    /// <summary>1 ms … 65 s, doubling.</summary>
    public static double[] LatencyBuckets { get; } = Histogram.ExponentialBuckets(0.001, 2, 17);

    public CollectorRegistry Registry { get; }
    public IMetricFactory Factory { get; }
    public Counter HttpRequests { get; }
    public Histogram HttpDuration { get; }
    public Gauge HttpInFlight { get; }
    public Histogram Stages { get; }
    public Histogram BatchSize { get; }

    /// <summary>
    /// Shows the configured resource bounds as <c>upmoe_limit{name=...}</c> (sizes in bytes, durations in seconds):
    /// upmoe.cluster.limits, the merge cache, idle passivation, hedging and the upload limit. Set once: they do not
    /// change while the process runs.
    /// </summary>
    public void ShowLimits(Akka.Configuration.Config config, long maxUpload)
    {
        var limit = Factory.CreateGauge("upmoe_limit", "A configured resource bound (bytes, seconds or a count); see hocon/reference.conf.", ["name"]);
        foreach (var (name, value) in UniPerceiverMoe.Actors.Cluster.ClusterLimits.FromConfig(config).Snapshot()) limit.WithLabels(name).Set(value);
        var hedge = UniPerceiverMoe.Actors.Settings.EngineSettings.FromConfig(config).ReplicaPolicy.Hedge;
        limit.WithLabels("hedge_min_delay_seconds").Set(hedge?.MinDelay.TotalSeconds ?? 0);
        limit.WithLabels("hedge_max_delay_seconds").Set(hedge?.MaxDelay.TotalSeconds ?? 0);
        limit.WithLabels("http_max_upload_bytes").Set(maxUpload);
    }

    /// <summary>Times a stage; dispose the result when the stage ends.</summary>
    public IDisposable Time(string stage) => Stages.WithLabels(stage).NewTimer();

    /// <summary>Writes every series in the Prometheus text format.</summary>
    public Task ExportAsync(Stream output, CancellationToken cancellation) => Registry.CollectAndExportAsTextAsync(output, cancellation);

    private async Task CollectEngineAsync(CancellationToken cancellation)
    {
        var engine = runtime.EngineIfReady;
        ready.Set(engine is null ? 0 : 1);
        clusterMembers.Set(engine?.System is Akka.Actor.ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider } system
            ? Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up)
            : 0);
        if (engine is null) return;
        foreach (var (key, value) in engine.Counters.Snapshot())
        {
            if (!engineCounters.TryGetValue(key, out var counter))
                engineCounters[key] = counter = Factory.CreateCounter($"upmoe_engine_{key}_total", $"Engine counter {key.Replace('_', ' ')}.");
            counter.IncTo(value);
        }
        var experts = engine.Plan.Groups.ToDictionary(g => g.Id, g => g.Experts.Count);
        await Task.WhenAll(engine.Groups.Select(async pair =>
        {
            string id = pair.Key;
            groupExperts.WithLabels(id).Set(experts.GetValueOrDefault(id));
            groupDevice.WithLabels(id, engine.Devices.Of(id)).Set(1);
            try
            {
                // Asked from a pool thread: with the caller-runs dispatcher an idle group answers on this thread.
                var stats = await Task.Run(() => pair.Value.Ask<ExpertGroupProtocol.GroupCounters>(ExpertGroupProtocol.GetStats.Instance, GroupAskTimeout, cancellation),
                    cancellation).ConfigureAwait(false);
                groupRequests.WithLabels(id).IncTo(stats.Requests);
                groupTokens.WithLabels(id).IncTo(stats.Tokens);
                groupComputeSeconds.WithLabels(id).IncTo(stats.ComputeTime.TotalSeconds);
                groupComputeCpuSeconds.WithLabels(id).IncTo(stats.ComputeCpu.TotalSeconds);
                groupMeanCompute.WithLabels(id).Set(stats.Requests == 0 ? 0 : stats.ComputeTime.TotalSeconds / stats.Requests);
                groupMergedRoutes.WithLabels(id).Set(stats.MergedRoutes);
                groupMergedBytes.WithLabels(id).Set(stats.MergedBytes);
                groupUp.WithLabels(id).Set(1);
            }
            catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
            {
                groupUp.WithLabels(id).Set(0);
            }
        })).ConfigureAwait(false);
    }
}
