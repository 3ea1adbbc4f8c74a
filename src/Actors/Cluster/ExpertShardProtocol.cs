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
public static class ExpertShardProtocol
{
    /// <summary>The sharded entity type.</summary>
    public const string TypeName = "expert-group";

    /// <summary>A message routed to the entity named by <see cref="GroupId"/>.</summary>
    public interface IGroupEnvelope
    {
        string GroupId { get; }
    }

    /// <summary>
    /// Apply x·(Σ g_i W_i)ᵀ + Σ g_i b_i over <see cref="Experts"/> with gate weights <see cref="Weights"/> at
    /// (<see cref="Layer"/>, <see cref="Kind"/>); <see cref="Input"/> is [rows, in]. Answered with
    /// <see cref="LinearApplied"/> [rows, out] or <see cref="GroupFailed"/>.
    /// </summary>
    [MessagePackObject]
    public sealed record ApplyLinear(
        [property: Key(0)] string GroupId,
        [property: Key(1)] int Layer,
        [property: Key(2)] int Kind,
        [property: Key(3)] int[] Experts,
        [property: Key(4)] float[] Weights,
        [property: Key(5)] TensorPayload Input,
        [property: Key(6)] int ThenKind = -1,
        [property: Key(7)] int[]? ThenExperts = null,
        [property: Key(8)] float[]? ThenWeights = null,
        [property: Key(9)] int[]? TailExperts2 = null,
        [property: Key(10)] float[]? TailWeights2 = null,
        [property: Key(11)] TensorPayload? TailParams = null,
        [property: Key(12)] double TailEps = 0,
        [property: Key(13)] int[]? LayerStarts = null,
        [property: Key(14)] int[]? LayerLengths = null,
        [property: Key(15)] int[][]? LayerExperts = null,
        [property: Key(16)] float[][]? LayerWeights = null,
        [property: Key(17)] int LayerHeads = 0,
        [property: Key(18)] int SequenceLength = 0) : IUpmoeWireMessage, IGroupEnvelope
    {
        /// <summary>ThenKind of a whole-layer request: per segment i, Layer*[4i..4i+3] hold the qkv, out-projection,
        /// linear1 and linear2 sub-routes; TailParams the [6, D] constants, TailEps the LayerNorm eps.</summary>
        public const int WholeLayerKind = -3;

        private static readonly MoeLinearKind[] LayerKinds = [MoeLinearKind.QkvProj, MoeLinearKind.Dense, MoeLinearKind.Linear1, MoeLinearKind.Linear2];

        /// <summary>ThenKind of a layer-tail request: Then* hold linear1's sub-route, Tail* linear2's and the constants.</summary>
        public const int TailKind = -2;

        /// <summary>A single linear, a fused FFN (<see cref="ThenLinear"/> after GELU) or a fused layer tail
        /// (<see cref="ThenLayerTail"/>: the constants travel as a [4, D] float32 payload).</summary>
        public static ApplyLinear Create(string groupId, MoeSite site, Route subRoute, TensorPayload input, GroupFollowUp? then) => then switch
        {
            null => new ApplyLinear(groupId, site.Layer, (int)site.Kind, subRoute.Experts, subRoute.Weights, input),
            ThenLinear second => new ApplyLinear(groupId, site.Layer, (int)site.Kind, subRoute.Experts, subRoute.Weights, input,
                (int)second.Site.Kind, second.SubRoute.Experts, second.SubRoute.Weights),
            ThenLayerTail tail => new ApplyLinear(groupId, site.Layer, (int)site.Kind, subRoute.Experts, subRoute.Weights, input,
                TailKind, tail.Linear1.Experts, tail.Linear1.Weights, tail.Linear2.Experts, tail.Linear2.Weights,
                TensorPayloads.FromTensor(tail.Tail.Params, WireDtype.Float32), tail.Tail.Eps),
            ThenWholeLayer whole => new ApplyLinear(groupId, site.Layer, (int)site.Kind, subRoute.Experts, subRoute.Weights, input,
                WholeLayerKind, TailParams: TensorPayloads.FromTensor(whole.Layer.Params, WireDtype.Float32), TailEps: whole.Layer.Eps,
                LayerStarts: whole.Segments.Select(s => s.Start).ToArray(), LayerLengths: whole.Segments.Select(s => s.Length).ToArray(),
                LayerExperts: whole.Segments.SelectMany(s => LayerKinds.Select(k => s[k].Experts)).ToArray(),
                LayerWeights: whole.Segments.SelectMany(s => LayerKinds.Select(k => s[k].Weights)).ToArray(),
                LayerHeads: whole.Layer.Heads, SequenceLength: whole.SequenceLength),
            _ => throw new ArgumentException($"unknown follow-up {then.GetType().Name}."),
        };

        /// <summary>The fused FFN's second linear (null for a single linear or a layer tail).</summary>
        [IgnoreMember]
        public ThenLinear? Then => ThenKind < 0 ? null : new ThenLinear(new MoeSite(Layer, (MoeLinearKind)ThenKind), new Route(ThenExperts!, ThenWeights!));

        /// <summary>A layer-tail request: linear1's and linear2's sub-routes.</summary>
        [IgnoreMember]
        public bool IsLayerTail => ThenKind == TailKind;

        [IgnoreMember]
        public bool IsWholeLayer => ThenKind == WholeLayerKind;

        /// <summary>A whole-layer request's segments (call only when <see cref="IsWholeLayer"/>; validated on receipt).</summary>
        public IReadOnlyList<SegmentRoutes> LayerSegments() => LayerStarts!.Select((start, i) =>
        {
            Route R(int k) => new(LayerExperts![4 * i + k], LayerWeights![4 * i + k]);
            return new SegmentRoutes(start, LayerLengths![i], R(0), R(1), R(2), R(3));
        }).ToArray();

        [IgnoreMember]
        public MoeSite Site => new(Layer, (MoeLinearKind)Kind);

        [IgnoreMember]
        public Route SubRoute => new(Experts, Weights);

        public void Validate()
        {
            if (string.IsNullOrEmpty(GroupId)) throw new InvalidDataException("ApplyLinear.GroupId is empty.");
            if (Layer < 0) throw new InvalidDataException($"ApplyLinear.Layer {Layer} is negative.");
            if (!Enum.IsDefined((MoeLinearKind)Kind)) throw new InvalidDataException($"ApplyLinear.Kind {Kind} is not an MoE linear.");
            if (Experts is null || Weights is null || Experts.Length == 0 || Experts.Length != Weights.Length)
                throw new InvalidDataException("ApplyLinear.Experts and Weights must be non-empty and of equal length.");
            if (Experts.Any(e => e < 0)) throw new InvalidDataException("ApplyLinear.Experts holds a negative expert index.");
            if (Input is null) throw new InvalidDataException("ApplyLinear.Input is missing.");
            Input.Validate("ApplyLinear.Input");
            if (Input.Shape.Length != 2) throw new InvalidDataException($"ApplyLinear.Input must be [rows, in]; got rank {Input.Shape.Length}.");
            if (ThenKind != WholeLayerKind && (LayerStarts is not null || LayerLengths is not null || LayerExperts is not null
                || LayerWeights is not null || LayerHeads != 0 || SequenceLength != 0))
                throw new InvalidDataException("ApplyLinear: whole-layer fields on a request that is not a whole layer.");
            if (ThenKind == TailKind)
            {
                if ((MoeLinearKind)Kind != MoeLinearKind.Dense)
                    throw new InvalidDataException("ApplyLinear: a layer tail starts at the attention out-projection (Dense).");
                if (!ValidRoute(ThenExperts, ThenWeights) || !ValidRoute(TailExperts2, TailWeights2))
                    throw new InvalidDataException("ApplyLinear: a layer tail needs non-empty linear1 and linear2 sub-routes of equal lengths.");
                if (TailParams is null) throw new InvalidDataException("ApplyLinear: a layer tail needs its constants.");
                TailParams.Validate("ApplyLinear.TailParams");
                if (TailParams.Shape is not [4, var d] || Input.Shape[1] != 2 * d)
                    throw new InvalidDataException($"ApplyLinear: a layer tail needs constants [4, D] and an input [rows, 2·D]; got [{string.Join(", ", TailParams.Shape)}] and [{string.Join(", ", Input.Shape)}].");
                if (!(TailEps > 0 && TailEps < 1)) throw new InvalidDataException($"ApplyLinear: layer-tail eps {TailEps} is out of (0, 1).");
            }
            else if (ThenKind == WholeLayerKind)
                ValidateWholeLayer();
            else if (TailExperts2 is not null || TailWeights2 is not null || TailParams is not null || TailEps != 0)
                throw new InvalidDataException("ApplyLinear: layer-tail fields on a request that is not a layer tail.");
            else if (ThenKind < 0)
            {
                if (ThenKind != -1 || ThenExperts is not null || ThenWeights is not null)
                    throw new InvalidDataException("ApplyLinear: a second linear needs ThenKind, ThenExperts and ThenWeights together.");
            }
            else if (!Enum.IsDefined((MoeLinearKind)ThenKind) || !ValidRoute(ThenExperts, ThenWeights))
                throw new InvalidDataException("ApplyLinear: the second linear needs a known kind and non-empty experts and weights of equal length.");
        }

        private void ValidateWholeLayer()
        {
            if ((MoeLinearKind)Kind != MoeLinearKind.QkvProj) throw new InvalidDataException("ApplyLinear: a whole layer starts at the qkv projection.");
            if (ThenExperts is not null || ThenWeights is not null || TailExperts2 is not null || TailWeights2 is not null)
                throw new InvalidDataException("ApplyLinear: a whole-layer request carries no second linear or tail routes.");
            if (LayerStarts is not { Length: > 0 } || LayerLengths is null || LayerLengths.Length != LayerStarts.Length
                || LayerExperts is null || LayerWeights is null || LayerExperts.Length != 4 * LayerStarts.Length || LayerWeights.Length != LayerExperts.Length)
                throw new InvalidDataException("ApplyLinear: a whole layer needs segment starts, lengths and four sub-routes per segment.");
            for (int i = 0; i < LayerExperts.Length; i++)
                if (!ValidRoute(LayerExperts[i], LayerWeights[i])) throw new InvalidDataException($"ApplyLinear: whole-layer sub-route {i} is empty or uneven.");
            int next = 0;
            for (int i = 0; i < LayerStarts.Length; i++)
            {
                if (LayerStarts[i] != next || LayerLengths[i] <= 0) throw new InvalidDataException("ApplyLinear: whole-layer segments must tile the sequence in order.");
                next += LayerLengths[i];
            }
            if (SequenceLength != next) throw new InvalidDataException($"ApplyLinear: segments cover {next} tokens, the sequence has {SequenceLength}.");
            if (TailParams is null) throw new InvalidDataException("ApplyLinear: a whole layer needs its constants.");
            TailParams.Validate("ApplyLinear.TailParams");
            if (TailParams.Shape is not [6, var d] || Input.Shape[1] != d || LayerHeads <= 0 || d % LayerHeads != 0)
                throw new InvalidDataException($"ApplyLinear: a whole layer needs constants [6, D], an input [rows, D] and heads dividing D; got [{string.Join(", ", TailParams.Shape)}], [{string.Join(", ", Input.Shape)}], {LayerHeads} heads.");
            if (Input.Shape[0] % SequenceLength != 0) throw new InvalidDataException($"ApplyLinear: {Input.Shape[0]} rows are not whole sequences of {SequenceLength}.");
            if (!(TailEps > 0 && TailEps < 1)) throw new InvalidDataException($"ApplyLinear: LayerNorm eps {TailEps} is out of (0, 1).");
        }

        private static bool ValidRoute(int[]? experts, float[]? weights) =>
            experts is { Length: > 0 } && weights is not null && experts.Length == weights.Length && experts.All(e => e >= 0);
    }

    /// <summary>
    /// The identity hop: the group answers its input as <see cref="LinearApplied"/> without computing anything. It
    /// takes the same path as <see cref="ApplyLinear"/> (data plane or sharding, entity, group actor, tensor in and out),
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

    /// <summary>Reply to <see cref="ApplyLinear"/>: [rows, out], and the data-plane endpoint ("host:port") of the
    /// node that computed it (null when it has none), where the frontend sends the group's next requests.</summary>
    [MessagePackObject]
    public sealed record LinearApplied([property: Key(0)] TensorPayload Output, [property: Key(1)] string? DataEndpoint = null) : IUpmoeWireMessage
    {
        public void Validate()
        {
            if (Output is null) throw new InvalidDataException("LinearApplied.Output is missing.");
            Output.Validate("LinearApplied.Output");
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
    /// node and the device ("cpu", "cuda:N") it computes on.</summary>
    [MessagePackObject]
    public sealed record GroupStats(
        [property: Key(0)] string GroupId,
        [property: Key(1)] string Node,
        [property: Key(2)] long Requests,
        [property: Key(3)] long Tokens,
        [property: Key(4)] int MergedRoutes,
        [property: Key(5)] double ComputeSeconds,
        [property: Key(6)] string Device) : IUpmoeWireMessage
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
