using Akka.Actor;
using MessagePack;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Messages between frontends and expert-group shard entities (entity id = placement group id). Requests are
/// idempotent (a pure function of the group's weights and the input), so the frontend may resend one after a
/// timeout: duplicates cost compute, never correctness.
/// </summary>
public static partial class ExpertShardProtocol
{
    /// <summary>The sharded entity type.</summary>
    public const string TypeName = "expert-group";

    /// <summary>A message routed to the entity named by <see cref="GroupId"/>.</summary>
    public interface IGroupEnvelope
    {
        string GroupId { get; }
    }

    /// <summary>
    /// The identity hop: the group answers its input as <see cref="RequestAnswered"/> without computing anything. It
    /// takes the same path as a compute request (<see cref="IComputeRequest"/>: data plane or sharding, entity, group actor, tensor in and out),
    /// so <c>upmoe bench hop</c> measures what one expert hop costs apart from its math. <see cref="Input"/> is [rows, in].
    /// </summary>
    [MessagePackObject]
    public sealed record ProbeHop([property: Key(0)] string GroupId, [property: Key(1)] TensorPayload Input) : IUpmoeWireMessage, IGroupEnvelope
    {
        public void Validate()
        {
            if (string.IsNullOrEmpty(GroupId)) throw new InvalidDataException("ProbeHop.GroupId is empty.");
            if (Input is null) throw new InvalidDataException("ProbeHop.Input is missing.");
            Input.Validate("ProbeHop.Input");
            if (Input.Shape.Length != 2) throw new InvalidDataException($"ProbeHop.Input must be [rows, in]; got rank {Input.Shape.Length}.");
        }
    }

    /// <summary>Reply to a compute request (<see cref="IComputeRequest"/>) or a probe: [rows, out], and the data-plane endpoint ("host:port") of the
    /// node that computed it (null when it has none), where the frontend sends the group's next requests.</summary>
    [MessagePackObject]
    public sealed record RequestAnswered([property: Key(0)] TensorPayload Output, [property: Key(1)] string? DataEndpoint = null) : IUpmoeWireMessage
    {
        public void Validate()
        {
            if (Output is null) throw new InvalidDataException("RequestAnswered.Output is missing.");
            Output.Validate("RequestAnswered.Output");
        }
    }

    /// <summary>The group could not apply a request (its error, e.g. an expert it does not hold, or weights that failed to load).</summary>
    [MessagePackObject]
    public sealed record GroupFailed([property: Key(0)] string GroupId, [property: Key(1)] string Reason) : IUpmoeWireMessage
    {
        public void Validate()
        {
            if (GroupId is null || Reason is null) throw new InvalidDataException("GroupFailed with a missing field.");
        }
    }

    /// <summary>Ask a group for its counters and host node; answered with <see cref="GroupStats"/>. Starts the group if needed.</summary>
    [MessagePackObject]
    public sealed record GetGroupStats([property: Key(0)] string GroupId) : IUpmoeWireMessage, IGroupEnvelope
    {
        public void Validate()
        {
            if (string.IsNullOrEmpty(GroupId)) throw new InvalidDataException("GetGroupStats.GroupId is empty.");
        }
    }

    /// <summary>Counters of one incarnation of a group (they restart from zero when the group is re-homed), with the
    /// node and the device ("cpu", "cuda:N") it computes on. <see cref="ComputeSeconds"/> is wall time in compute,
    /// <see cref="ComputeCpuSeconds"/> the computing threads' CPU time (0 from a node that cannot read it).</summary>
    [MessagePackObject]
    public sealed record GroupStats(
        [property: Key(0)] string GroupId,
        [property: Key(1)] string Node,
        [property: Key(2)] long Requests,
        [property: Key(3)] long Tokens,
        [property: Key(4)] int MergedRoutes,
        [property: Key(5)] double ComputeSeconds,
        [property: Key(6)] string Device,
        [property: Key(7)] double ComputeCpuSeconds = 0) : IUpmoeWireMessage
    {
        public void Validate()
        {
            if (GroupId is null || Node is null || Device is null) throw new InvalidDataException("GroupStats with a missing field.");
        }
    }

    /// <summary>
    /// Hand-off stop message (sent by the local shard, never crosses nodes): the entity stops once its in-flight
    /// requests are answered, so a graceful leave loses none of the requests it had already accepted.
    /// </summary>
    public sealed record StopGroup : INoSerializationVerificationNeeded
    {
        public static readonly StopGroup Instance = new();
    }

    /// <summary>Props of the entity <paramref name="groupId"/> on an expert node.</summary>
    public static Props EntityProps(string groupId, ExpertNodeContext context) =>
        Props.Create(() => new ExpertGroupEntityActor(groupId, context)).WithDispatcher(ExpertGroupEntityActor.PoolDispatcher);
}
