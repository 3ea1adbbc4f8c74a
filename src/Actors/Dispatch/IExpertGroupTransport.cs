using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>How the route dispatcher reaches expert groups: in-process actor refs, or a cluster shard region.</summary>
public interface IExpertGroupTransport
{
    /// <summary>
    /// Computes <paramref name="request"/> (a linear, an FFN, a layer tail or a whole layer) in group
    /// <paramref name="groupId"/>. Takes ownership of the <paramref name="input"/> handle (callers pass an alias); the
    /// request's constants stay the caller's (each send gets a handle or copy of its own). The result is owned by the
    /// caller and belongs to no dispose scope (it may have been made on another thread; see ExpertGroupActor).
    /// Fails with the group's error, or a timeout after <paramref name="timeout"/>. With
    /// <paramref name="failFast"/> (the caller has other replicas) a group whose node is known to be gone fails the call
    /// at once with <see cref="ExpertGroupUnreachableException"/> instead of waiting for the group to be re-homed.
    /// </summary>
    Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false);
}

/// <summary>Builds the transport an engine dispatches through, once the engine's actor system exists.</summary>
public delegate IExpertGroupTransport ExpertTransportFactory(ActorSystem system, PlacementPlan plan, UniPerceiverConfig model);

/// <summary>In-process transport: tensors travel by reference inside <see cref="Compute"/> messages.</summary>
public sealed class LocalGroupTransport(IReadOnlyDictionary<string, IActorRef> groups) : IExpertGroupTransport
{
    public async Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
    {
        if (!groups.TryGetValue(groupId, out var group))
        {
            input.Dispose();
            throw new ArgumentException($"no expert group '{groupId}' in this process.");
        }
        // Like the input, the request's constants go to the group as a handle of its own (it releases them).
        var reply = await group.Ask<Computed>(new Compute(request.WithOwnConstants(), input), timeout).ConfigureAwait(false);
        return reply.Output;
    }
}

/// <summary>The node hosting a group is gone (connection refused, reset or closed); another replica may answer.</summary>
public sealed class ExpertGroupUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
