using System.Collections.Concurrent;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors;

/// <summary>A thread-safe monotonically increasing counter.</summary>
public sealed class Counter
{
    private long value;

    public long Value => Interlocked.Read(ref value);

    public void Increment() => Interlocked.Increment(ref value);

    public void Add(long n) => Interlocked.Add(ref value, n);
}

/// <summary>Engine-wide counters (exported as metrics by the host). Nothing is lost silently: every retry,
/// failure and restart is counted here.</summary>
public sealed class EngineCounters
{
    /// <summary>Expert-group requests sent (one per route part per MoE linear per segment).</summary>
    public Counter ExpertRequests { get; } = new();
    /// <summary>Expert-group requests retried after a failure or timeout.</summary>
    public Counter ExpertRetries { get; } = new();
    /// <summary>Tries moved on to another replica of the same route part within one pass (see ExpertGroupClient).</summary>
    public Counter ExpertFailovers { get; } = new();
    /// <summary>Layer tails (out-projection to layer output) computed in one group request (upmoe.engine.fuse-tail).</summary>
    public Counter FusedTailRequests { get; } = new();
    /// <summary>Whole MoE layers computed in one group request (upmoe.engine.fuse-layer).</summary>
    public Counter FusedLayerRequests { get; } = new();
    /// <summary>Expert-group requests that failed for good (the whole inference request failed).</summary>
    public Counter ExpertFailures { get; } = new();
    /// <summary>Expert-group actors restarted by their supervisor (weights reloaded).</summary>
    public Counter GroupRestarts { get; } = new();
    /// <summary>Route parts sent to a group that held only part of the route (split routes).</summary>
    public Counter SplitRouteParts { get; } = new();
    /// <summary>Fused FFN requests (one per segment whose linear1 and linear2 went to one group in one request).</summary>
    public Counter FusedFfnRequests { get; } = new();
    /// <summary>Token-level routing: (token, expert) assignments decided at gate sites, and those dropped over capacity
    /// (only when upmoe.routing.token.dropless is off).</summary>
    public Counter TokenAssignments { get; } = new();
    public Counter TokenDroppedAssignments { get; } = new();
    /// <summary>Hedges: a second replica asked because the first had not answered within the hedge delay (duplicate
    /// work), and those the hedge answered first.</summary>
    public Counter ExpertHedges { get; } = new();
    public Counter ExpertHedgeWins { get; } = new();
    /// <summary>Merged route weights evicted from in-process groups' caches (upmoe.engine.merge-cache).</summary>
    public Counter MergeEvictions { get; } = new();
    /// <summary>Inference requests completed / failed.</summary>
    public Counter RequestsCompleted { get; } = new();
    public Counter RequestsFailed { get; } = new();
    /// <summary>Free C-heap pages given back to the OS once the engine went idle (see Memory.IdleHeapTrimmer).</summary>
    public Counter NativeHeapTrims { get; } = new();
    /// <summary>CPU time (µs, <see cref="Diagnostics.ThreadCpu"/>) the sequence executors spent on requests, and the part
    /// of it spent dispatching MoE work to expert groups: building and sending hops, taking the replies, and, for groups
    /// in this process on the caller-runs dispatcher, their compute. The rest is the model's own (dense) work. Threads
    /// that only wait cost nothing here; what other threads spend (data-plane readers, the runtime) is not included.</summary>
    public Counter SequenceCpuMicros { get; } = new();
    public Counter ExpertDispatchCpuMicros { get; } = new();

    private readonly ConcurrentDictionary<MoeAttribute, Counter> routed = new();

    /// <summary>Counts <paramref name="segments"/> segments dispatched to expert groups under <paramref name="attribute"/>
    /// (one per segment per MoE linear, or per fused FFN / tail / layer request): the attribute the experts' routes
    /// were chosen by, as the dispatcher hands the request to the groups.</summary>
    public void CountRouted(MoeAttribute attribute, long segments = 1) => routed.GetOrAdd(attribute, _ => new Counter()).Add(segments);

    /// <summary>Segments dispatched to expert groups so far, by the attribute that chose their routes.</summary>
    public IReadOnlyDictionary<MoeAttribute, long> RoutedByAttribute() => routed.ToDictionary(kv => kv.Key, kv => kv.Value.Value);

    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>
    {
        ["expert_requests"] = ExpertRequests.Value,
        ["expert_retries"] = ExpertRetries.Value,
        ["expert_failovers"] = ExpertFailovers.Value,
        ["fused_tail_requests"] = FusedTailRequests.Value,
        ["fused_layer_requests"] = FusedLayerRequests.Value,
        ["expert_failures"] = ExpertFailures.Value,
        ["group_restarts"] = GroupRestarts.Value,
        ["split_route_parts"] = SplitRouteParts.Value,
        ["fused_ffn_requests"] = FusedFfnRequests.Value,
        ["token_assignments"] = TokenAssignments.Value,
        ["token_dropped_assignments"] = TokenDroppedAssignments.Value,
        ["expert_hedges"] = ExpertHedges.Value,
        ["expert_hedge_wins"] = ExpertHedgeWins.Value,
        ["merge_evictions"] = MergeEvictions.Value,
        ["requests_completed"] = RequestsCompleted.Value,
        ["requests_failed"] = RequestsFailed.Value,
        ["native_heap_trims"] = NativeHeapTrims.Value,
        ["sequence_cpu_microseconds"] = SequenceCpuMicros.Value,
        ["expert_dispatch_cpu_microseconds"] = ExpertDispatchCpuMicros.Value,
    };
}
