using System.Collections.Concurrent;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// The route dispatcher: applies an MoE linear by asking the expert groups that own each segment's route. All
/// segments (and all parts of split routes) are asked at once; the calling thread then waits for every reply and sums
/// the partial outputs of split routes (linearity: Σ_parts x·W_partᵀ + b_part = x·W_routeᵀ + b_route). Replicas,
/// retries and failures are handled by <see cref="ExpertGroupClient"/>. Must run on a thread that may block (a sequence executor's
/// pinned thread), never on an expert-group dispatcher thread. With <c>fuseFfn</c>, an FFN whose linear1 and linear2
/// routes each lie whole in one and the same group set is one request per segment (<see cref="FfnRequest"/>); likewise a
/// layer tail (<see cref="LayerTailRequest"/>) and a whole layer (<see cref="WholeLayerRequest"/>).
/// </summary>
public sealed class ActorMoeExecutor : IMoeLinearExecutor
{
    private readonly PlacementPlan plan;
    private readonly ExpertGroupClient client;
    private readonly RouteTable routes;
    private readonly EngineCounters counters;
    private readonly bool fuseFfn;
    private readonly bool fuseTail;
    private readonly bool fuseLayer;
    private readonly ConcurrentDictionary<(int Layer, Route Route), IReadOnlyList<RoutePart>> parts = new();

    public ActorMoeExecutor(PlacementPlan plan, ExpertGroupClient client, RouteTable routes, EngineCounters counters, bool fuseFfn = true,
        bool fuseTail = true, bool fuseLayer = true)
    {
        this.fuseLayer = fuseLayer;
        this.fuseFfn = fuseFfn;
        this.fuseTail = fuseTail;
        this.plan = plan;
        this.client = client;
        this.routes = routes;
        this.counters = counters;
    }

    public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing)
    {
        using var cpu = new DispatchCpu(counters);
        if (routing.Length != x.size(1))
            throw new ArgumentException($"routing covers {routing.Length} tokens but the input has {x.size(1)}.");
        var segments = routing.Segments;
        var pending = new List<Task<Tensor>>[segments.Count];
        for (int s = 0; s < segments.Count; s++)
        {
            var routeParts = Parts(site, segments[s].Attribute);
            counters.CountRouted(segments[s].Attribute);
            if (routeParts.Count > 1) counters.SplitRouteParts.Add(routeParts.Count);
            pending[s] = routeParts.Select(part => client.ApplyAsync(new LinearRequest(site, part.SubRoute), part.Replicas, SegmentInput(x, segments, s))).ToList();
        }
        return Collect(pending);
    }

    public Tensor? TryApplyFfn(int layer, Tensor x, TokenRouting routing)
    {
        if (!fuseFfn || routing.Length != x.size(1)) return null;
        using var cpu = new DispatchCpu(counters);
        var first = new MoeSite(layer, MoeLinearKind.Linear1);
        var second = new MoeSite(layer, MoeLinearKind.Linear2);
        var segments = routing.Segments;
        var calls = new (IReadOnlyList<string> Replicas, FfnRequest Request)[segments.Count];
        for (int s = 0; s < segments.Count; s++)
        {
            var parts1 = Parts(first, segments[s].Attribute);
            var parts2 = Parts(second, segments[s].Attribute);
            // GELU sits between the linears: only a group that holds both routes whole can apply them in one go.
            if (parts1.Count != 1 || parts2.Count != 1 || !parts1[0].Replicas.SequenceEqual(parts2[0].Replicas)) return null;
            calls[s] = (parts1[0].Replicas, new FfnRequest(layer, parts1[0].SubRoute, parts2[0].SubRoute));
        }
        counters.FusedFfnRequests.Add(segments.Count);
        foreach (var segment in segments) counters.CountRouted(segment.Attribute);
        var pending = new List<Task<Tensor>>[segments.Count];
        for (int s = 0; s < segments.Count; s++)
            pending[s] = [client.ApplyAsync(calls[s].Request, calls[s].Replicas, SegmentInput(x, segments, s))];
        return Collect(pending);
    }

    public Tensor? TryApplyTail(int layer, Tensor context, Tensor x, Func<LayerTail> tail, TokenRouting routing)
    {
        if (!fuseTail || routing.Length != x.size(1)) return null;
        using var cpu = new DispatchCpu(counters);
        var dense = new MoeSite(layer, MoeLinearKind.Dense);
        var segments = routing.Segments;
        var calls = new (RoutePart Dense, Route Linear1, Route Linear2)[segments.Count];
        for (int s = 0; s < segments.Count; s++)
        {
            var parts0 = Parts(dense, segments[s].Attribute);
            var parts1 = Parts(new MoeSite(layer, MoeLinearKind.Linear1), segments[s].Attribute);
            var parts2 = Parts(new MoeSite(layer, MoeLinearKind.Linear2), segments[s].Attribute);
            // LayerNorm and GELU sit between the linears: only a group that holds all three routes whole can fuse them.
            if (parts0.Count != 1 || parts1.Count != 1 || parts2.Count != 1
                || !parts0[0].Replicas.SequenceEqual(parts1[0].Replicas) || !parts0[0].Replicas.SequenceEqual(parts2[0].Replicas)) return null;
            calls[s] = (parts0[0], parts1[0].SubRoute, parts2[0].SubRoute);
        }
        counters.FusedTailRequests.Add(segments.Count);
        foreach (var segment in segments) counters.CountRouted(segment.Attribute);
        var constants = tail();
        try
        {
            using var joined = cat([context, x], -1);                                             // [B, N, 2D]
            var pending = new List<Task<Tensor>>[segments.Count];
            for (int s = 0; s < segments.Count; s++)
                pending[s] = [client.ApplyAsync(new LayerTailRequest(layer, calls[s].Dense.SubRoute, calls[s].Linear1, calls[s].Linear2, constants),
                    calls[s].Dense.Replicas, SegmentInput(joined, segments, s))];
            return Collect(pending);
        }
        finally
        {
            constants.Params.Dispose();   // every group took its own handle (or a serialized copy) before Collect returned
        }
    }

    public Tensor? TryApplyLayer(int layer, Tensor x, Func<WholeLayer> layerConstants, TokenRouting routing)
    {
        if (!fuseLayer || routing.Length != x.size(1)) return null;
        using var cpu = new DispatchCpu(counters);
        var segments = routing.Segments;
        var kinds = SegmentRoutes.Kinds;
        IReadOnlyList<string>? replicas = null;
        var routesOf = new SegmentRoutes[segments.Count];
        for (int s = 0; s < segments.Count; s++)
        {
            var sub = new Route[kinds.Length];
            for (int k = 0; k < kinds.Length; k++)
            {
                var p = Parts(new MoeSite(layer, kinds[k]), segments[s].Attribute);
                // Attention mixes all segments and LayerNorm/GELU sit between the linears: one group must hold every route whole.
                if (p.Count != 1 || (replicas is not null && !replicas.SequenceEqual(p[0].Replicas))) return null;
                replicas ??= p[0].Replicas;
                sub[k] = p[0].SubRoute;
            }
            routesOf[s] = new SegmentRoutes(segments[s].Start, segments[s].Length, sub[0], sub[1], sub[2], sub[3]);
        }
        counters.FusedLayerRequests.Increment();
        foreach (var segment in segments) counters.CountRouted(segment.Attribute);
        var constants = layerConstants();
        try
        {
            var request = new WholeLayerRequest(layer, routesOf, constants, (int)x.size(1));
            return Collect([[client.ApplyAsync(request, replicas!, x.alias().DetachFromDisposeScope())]]);
        }
        finally
        {
            constants.Params.Dispose();   // every group took its own handle (or a serialized copy) before Collect returned
        }
    }

    private IReadOnlyList<RoutePart> Parts(MoeSite site, MoeAttribute attribute) =>
        parts.GetOrAdd((site.Layer, routes.RouteOf(site, attribute)), key => plan.Split(key.Layer, key.Route));

    /// <summary>
    /// The input handle one request of segment <paramref name="s"/> sends. The group takes its own handle on it, so we
    /// may release ours whatever happens to the ask; it is released by the client, possibly on another thread, so it is
    /// detached from this thread's dispose scope.
    /// </summary>
    private static Tensor SegmentInput(Tensor x, IReadOnlyList<RouteSegment> segments, int s) =>
        (segments.Count == 1 ? x.alias() : x.narrow(1, segments[s].Start, segments[s].Length)).DetachFromDisposeScope();

    /// <summary>Waits for every request, sums each segment's partial outputs (split routes) and joins the segments
    /// along the token axis. On a failure, every output that did arrive is released and the (first) error rethrown.</summary>
    private Tensor Collect(List<Task<Tensor>>[] pending)
    {
        var outputs = new List<Tensor>(pending.Length);
        try
        {
            var all = pending.SelectMany(p => p).ToArray();
            BlockingWait.All(all);
            if (all.Any(t => !t.IsCompletedSuccessfully)) Task.WaitAll(all);   // rethrows as WaitAll does (handled below)
            foreach (var segmentParts in pending)
                outputs.Add(Sum(segmentParts.Select(t => t.Result).ToList()));
            return outputs.Count == 1 ? outputs[0] : cat(outputs, 1);
        }
        catch (AggregateException e)
        {
            counters.ExpertFailures.Increment();
            DisposeCompleted(pending);
            throw e.InnerExceptions.Count == 1 ? e.InnerExceptions[0] : e;
        }
        finally
        {
            if (outputs.Count > 1) foreach (var o in outputs) o.Dispose();
        }
    }

    private static Tensor Sum(List<Tensor> partials)
    {
        if (partials.Count == 1) return partials[0];
        var total = partials[0];
        for (int i = 1; i < partials.Count; i++)
        {
            total.PlusInPlace(partials[i]);
            partials[i].Dispose();
        }
        return total;
    }

    /// <summary>Adds the calling thread's CPU time from construction to disposal to the dispatch counter.</summary>
    private readonly struct DispatchCpu(EngineCounters counters) : IDisposable
    {
        private readonly long started = ThreadCpu.Nanoseconds();

        public void Dispose() => counters.ExpertDispatchCpuMicros.Add(ThreadCpu.MicrosecondsSince(started));
    }

    private static void DisposeCompleted(IEnumerable<List<Task<Tensor>>> pending)
    {
        foreach (var t in pending.SelectMany(p => p))
            if (t.IsCompletedSuccessfully) t.Result.Dispose();
    }
}
