namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Counters of the cluster transport (frontend side) and of the shard entities (expert side). With
/// <see cref="EngineCounters"/> they account for every request: an attempt that times out is counted as a retry or,
/// once the deadline has passed, as a give-up that fails the part (and is retried or reported by the dispatcher).
/// </summary>
public sealed class ClusterCounters
{
    /// <summary>Frontend: wire messages sent to expert groups (chunks and resends included).</summary>
    public Counter MessagesSent { get; } = new();
    /// <summary>Frontend: route parts whose tensor was split over several messages to fit the remote frame.</summary>
    public Counter SplitParts { get; } = new();
    /// <summary>Frontend: attempts that timed out and were resent (hand-off, re-homing, a slow group).</summary>
    public Counter Resends { get; } = new();
    /// <summary>Frontend: parts that failed after the deadline or with a group's error.</summary>
    public Counter PartsFailed { get; } = new();
    /// <summary>Frontend: tensor payload bytes sent / received (data only).</summary>
    public Counter BytesSent { get; } = new();
    public Counter BytesReceived { get; } = new();
    /// <summary>Frontend: rows (tokens) sent, counting every MoE linear and every route part once (resends excluded).</summary>
    public Counter RowsSent { get; } = new();

    /// <summary>Frontend: requests answered over the data plane / attempts that fell back to Akka after a data-plane failure.</summary>
    public Counter DataPlaneMessages { get; } = new();
    public Counter DataPlaneFallbacks { get; } = new();

    /// <summary>Expert side: requests taken from the data plane / data-plane connections closed for a malformed frame.</summary>
    public Counter DataPlaneRequests { get; } = new();
    public Counter DataPlaneRejected { get; } = new();
    /// <summary>Expert side: data-plane connections refused (over a connection cap, or not authenticated).</summary>
    public Counter DataPlaneRefused { get; } = new();
    /// <summary>Expert side: data-plane connections closed for idling (idle-timeout) or stalling inside a frame (read-timeout).</summary>
    public Counter DataPlaneTimedOut { get; } = new();
    /// <summary>Expert side: data-plane requests for a group outside this node's placement (answered with a failure).</summary>
    public Counter DataPlaneUnknownGroups { get; } = new();
    /// <summary>Expert side: data-plane requests delivered straight to a running group (the rest went through the region).</summary>
    public Counter DataPlaneDirect { get; } = new();
    /// <summary>Hop batches (upmoe.cluster.hop-batching): requests of two or more sequences to one group sent as one,
    /// and the requests that went in them.</summary>
    public Counter HopBatches { get; } = new();
    public Counter HopBatchedRequests { get; } = new();

    /// <summary>Expert side: requests answered with a result / with a failure.</summary>
    public Counter EntityRequests { get; } = new();
    public Counter EntityFailures { get; } = new();
    /// <summary>Expert side: group incarnations started (first use, re-homing, rebalancing).</summary>
    public Counter EntityStarts { get; } = new();
    /// <summary>Expert side: group restarts after an error (weights kept, merged routes rebuilt).</summary>
    public Counter EntityRestarts { get; } = new();
    /// <summary>Expert side: requests for a group id outside this node's placement, refused without starting a group.</summary>
    public Counter UnknownGroupsRefused { get; } = new();
    /// <summary>Expert side: merged route weights evicted from groups' caches (upmoe.engine.merge-cache).</summary>
    public Counter MergeEvictions { get; } = new();

    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>
    {
        ["wire_messages_sent"] = MessagesSent.Value,
        ["wire_split_parts"] = SplitParts.Value,
        ["wire_resends"] = Resends.Value,
        ["wire_parts_failed"] = PartsFailed.Value,
        ["wire_bytes_sent"] = BytesSent.Value,
        ["wire_bytes_received"] = BytesReceived.Value,
        ["wire_rows_sent"] = RowsSent.Value,
        ["data_plane_messages"] = DataPlaneMessages.Value,
        ["data_plane_fallbacks"] = DataPlaneFallbacks.Value,
        ["data_plane_requests"] = DataPlaneRequests.Value,
        ["data_plane_rejected"] = DataPlaneRejected.Value,
        ["data_plane_refused"] = DataPlaneRefused.Value,
        ["data_plane_timed_out"] = DataPlaneTimedOut.Value,
        ["data_plane_unknown_groups"] = DataPlaneUnknownGroups.Value,
        ["data_plane_direct"] = DataPlaneDirect.Value,
        ["hop_batches"] = HopBatches.Value,
        ["hop_batched_requests"] = HopBatchedRequests.Value,
        ["entity_requests"] = EntityRequests.Value,
        ["entity_failures"] = EntityFailures.Value,
        ["entity_starts"] = EntityStarts.Value,
        ["entity_restarts"] = EntityRestarts.Value,
        ["unknown_groups_refused"] = UnknownGroupsRefused.Value,
        ["merge_evictions"] = MergeEvictions.Value,
    };
}
