using Akka.Actor;
using UniPerceiverMoe.Actors.Serialization;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;
using Local = UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// The sender of a request that the data plane delivers straight to a group: the group's reply (a result or a
/// <see cref="Status.Failure"/>) is encoded and written to the request's connection by whichever thread the group
/// replies on, with no actor, ask or task in between. One sink per request; it answers once.
/// </summary>
internal sealed class ReplySink(IActorRefProvider provider, ActorPath path, Action<IUpmoeWireMessage> answer, string groupId, string what,
    WireDtype wireDtype, string? dataEndpoint) : MinimalActorRef
{
    private int answered;

    public override ActorPath Path { get; } = path;

    public override IActorRefProvider Provider { get; } = provider;

    protected override void TellInternal(object message, IActorRef sender)
    {
        // Nothing else is addressed to a request's sender; a second answer cannot happen, and is dropped if it did.
        if (message is Local.Computed applied)
        {
            using var output = applied.Output;
            if (Interlocked.Exchange(ref answered, 1) != 0) return;
            // The reply frame is written inside answer, on this thread: a view of the output is enough (no copy).
            using var payload = TensorPayloads.View(output, wireDtype);
            answer(new RequestAnswered(payload, dataEndpoint));
        }
        else if (message is Status.Failure failure && Interlocked.Exchange(ref answered, 1) == 0)
            answer(new GroupFailed(groupId, failure.Cause?.Message ?? $"expert group {groupId} failed {what}"));
    }
}
