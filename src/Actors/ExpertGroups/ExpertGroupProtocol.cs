using Akka.Actor;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>Messages of expert-group actors and their Props.</summary>
public static class ExpertGroupProtocol
{
    public interface IExpertGroupMessage;

    /// <summary>
    /// Compute <paramref name="Request"/> (a linear, an FFN, a layer tail or a whole layer; every expert it names held by
    /// the group) on <paramref name="Input"/>. The group takes ownership of the input handle and of the request's
    /// constants and disposes them (the sender passes aliases, so both may release their handles independently).
    /// Replied with <see cref="Computed"/>. In-process only.
    /// </summary>
    public sealed record Compute(ExpertRequest Request, Tensor Input) : IExpertGroupMessage, INoSerializationVerificationNeeded;

    /// <summary>Reply to <see cref="Compute"/> (and <see cref="Echo"/>): the result, owned by the receiver.</summary>
    public sealed record Computed(Tensor Output) : INoSerializationVerificationNeeded;

    /// <summary>The identity hop (see <c>ExpertShardProtocol.ProbeHop</c>): replied with <see cref="Computed"/>
    /// holding <paramref name="Input"/> itself, whose ownership passes back to the sender. No compute.</summary>
    public sealed record Echo(Tensor Input) : IExpertGroupMessage, INoSerializationVerificationNeeded;

    /// <summary>Ask for counters; replied with <see cref="GroupCounters"/>.</summary>
    public sealed record GetStats : IExpertGroupMessage
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>A group's counters; <paramref name="Device"/> is where it computes ("cpu", "cuda:1");
    /// <paramref name="MergeEvictions"/>: merged routes dropped to keep the cache within upmoe.engine.merge-cache.
    /// <paramref name="ComputeTime"/> is wall time in compute (latency); <paramref name="ComputeCpu"/> the CPU time of the
    /// threads that computed (cost: on shared cores wall time also counts the time the thread was preempted; 0 where
    /// <see cref="Diagnostics.ThreadCpu"/> is unsupported).</summary>
    public sealed record GroupCounters(string GroupId, long Requests, long Tokens, int MergedRoutes, long MergedBytes, TimeSpan ComputeTime, string Device,
        long MergeEvictions = 0, TimeSpan ComputeCpu = default);

    /// <summary>Props of a group. <paramref name="loadWeights"/> runs at every (re)start: a restarted group reloads its
    /// weights. The group computes on <paramref name="device"/> ("cpu", "cuda:N"; <see cref="DeviceAssignment"/>): it
    /// keeps its merged routes there, moves each input there and its result back to the input's device.
    /// <paramref name="cacheLimit"/> bounds its merged-weight cache (null: unbounded, for tests with a fixed set of routes).</summary>
    public static Props Props(ExpertGroupSpec spec, Func<ExpertGroupSpec, IExpertWeightSource> loadWeights, string device,
        ExpertGroupFaults? faults = null, string dispatcher = "upmoe-expert-dispatcher", MergeCacheLimit? cacheLimit = null) =>
        Akka.Actor.Props.Create(() => new ExpertGroupActor(spec, loadWeights, device, faults ?? ExpertGroupFaults.None, cacheLimit))
            .WithDispatcher(dispatcher);
}

/// <summary>An expert group failed a request (after its own error); carries the group id and the site.</summary>
public sealed class ExpertGroupException(string message, Exception? inner = null) : Exception(message, inner);
