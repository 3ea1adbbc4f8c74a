using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>
/// Owns some (layer, expert) pairs and applies merged linears for the routes (or route parts) sent to it. Merged
/// weights are built on first use per (site, sub-route) and kept, within the byte budget of a
/// <see cref="MergedRouteCache"/> (least recently used out), until the actor stops or restarts. On an error it
/// replies <see cref="Status.Failure"/> to the sender and rethrows, so its supervisor restarts it and the weights
/// are loaded again. It computes on its device: merged weights are kept there, inputs and follow-up constants are
/// moved there (no copy when they are there already) and the result goes back to the input's device.
/// </summary>
public sealed class ExpertGroupActor : ReceiveActor
{
    private readonly ExpertGroupSpec spec;
    private readonly Func<ExpertGroupSpec, IExpertWeightSource> loadWeights;
    private readonly ExpertGroupFaults faults;
    private readonly string deviceName;
    private readonly Device device;
    private readonly MergedRouteCache merged;
    private readonly ILoggingAdapter log = Context.GetLogger();
    private IExpertWeightSource? weights;
    private long requests;
    private long tokens;
    private TimeSpan computeTime;
    private long computeCpuMicros;

    public ExpertGroupActor(ExpertGroupSpec spec, Func<ExpertGroupSpec, IExpertWeightSource> loadWeights, string device, ExpertGroupFaults faults,
        MergeCacheLimit? cacheLimit = null)
    {
        this.spec = spec;
        deviceName = DeviceAssignment.Validate(device, $"expert group {spec.Id}");
        this.device = new Device(device);
        merged = new MergedRouteCache(cacheLimit);
        this.loadWeights = loadWeights;
        this.faults = faults;
        Receive<Compute>(Apply);
        Receive<Echo>(echo => Sender.Tell(new Computed(echo.Input.DetachFromDisposeScope())));
        Receive<GetStats>(_ => Sender.Tell(new GroupCounters(spec.Id, requests, tokens, merged.Count, merged.Bytes, computeTime, deviceName, merged.Evictions,
            TimeSpan.FromMicroseconds(computeCpuMicros))));
    }

    protected override void PreStart() => weights = loadWeights(spec);

    protected override void PostStop() => merged.Dispose();

    private void Apply(Compute message)
    {
        var request = message.Request;
        using var received = message.Input;
        using var constants = request.Constants;   // owned by the request, like the input
        try
        {
            var home = received.device;
            using var input = DeviceStaging.Move(received, device);
            using var placedConstants = constants is null ? null : DeviceStaging.Move(constants, device);
            var placed = placedConstants is null ? request : request.WithConstants(placedConstants);
            faults.ThrowIfInjected(spec.Id);
            var started = Stopwatch.GetTimestamp();
            long startedCpu = ThreadCpu.Nanoseconds();
            using var noGrad = no_grad();
            // The reply belongs to the sender. With the caller-runs dispatcher this may run on another sequence
            // executor's thread, inside that thread's dispose scope: detach it so that scope cannot release it.
            var output = placed.Apply(input, Linear);
            if (!DeviceStaging.SameDevice(home, device))
            {
                using var computed = output;
                output = DeviceStaging.Move(computed, home);
            }
            output = output.DetachFromDisposeScope();
            computeTime += Stopwatch.GetElapsedTime(started);
            computeCpuMicros += ThreadCpu.MicrosecondsSince(startedCpu);
            requests++;
            tokens += input.NumberOfElements / input.size(-1);
            Sender.Tell(new Computed(output));
        }
        catch (Exception e)
        {
            log.Error(e, "expert group {0} failed {1} route {2}", spec.Id, request.Site, request.SubRoute);
            Sender.Tell(new Status.Failure(new ExpertGroupException($"expert group {spec.Id} failed {request.Site} route {request.SubRoute}: {e.Message}", e)));
            throw;
        }
    }

    /// <summary>x·Wᵀ + b with the merged weights of <paramref name="subRoute"/> at <paramref name="site"/>.</summary>
    private Tensor Linear(MoeSite site, Route subRoute, Tensor x) => Merged(site, subRoute).Apply(x);

    /// <summary>The cached merge (valid until the next call: a later merge may evict it).</summary>
    private LinearWeights Merged(MoeSite site, Route subRoute) => merged.GetOrAdd(site, subRoute, () => Merge(site, subRoute));

    private (Tensor Weight, Tensor Bias) Merge(MoeSite site, Route subRoute)
    {
        foreach (var e in subRoute.Experts)
            if (!spec.Holds(site.Layer, e))
                throw new ArgumentException($"expert group {spec.Id} does not hold expert {e} of layer {site.Layer}.");
        var source = weights ?? throw new InvalidOperationException($"expert group {spec.Id} has no weights loaded.");
        var (mergedW, mergedB) = TaskMoE.MergeExperts(e => source.Expert(site, e).Weight, e => source.Expert(site, e).Bias, subRoute);
        // Merged where the source keeps its experts, kept on the group's device (the same tensors when they are there).
        using var w = mergedW;
        using var b = mergedB;
        // With the caller-runs dispatcher this runs inside the caller's dispose scope (thread-local): the cache must
        // not belong to it.
        return (DeviceStaging.Move(w, device).DetachFromDisposeScope(), DeviceStaging.Move(b, device).DetachFromDisposeScope());
    }
}
