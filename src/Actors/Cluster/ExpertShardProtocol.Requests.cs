using MessagePack;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// The wire form of each <see cref="ExpertRequest"/> case, one record per case named for what it carries. Each checks
/// itself on receipt (<see cref="IUpmoeWireMessage.Validate"/>: a malformed request is refused with the field at fault)
/// and becomes the model's request on the expert node (<see cref="IComputeRequest.ToRequest"/>); the frontend builds
/// them with <see cref="ComputeRequests.From"/>. Answered with <see cref="RequestAnswered"/> [rows, out] or
/// <see cref="GroupFailed"/>.
/// </summary>
public static partial class ExpertShardProtocol
{
    /// <summary>A request an expert group computes on its <see cref="Input"/> rows.</summary>
    public interface IComputeRequest : IGroupEnvelope, IUpmoeWireMessage
    {
        /// <summary>The rows [rows, in].</summary>
        TensorPayload Input { get; }

        /// <summary>The request's first linear (for errors and logs).</summary>
        MoeSite Site { get; }

        /// <summary>The same request with other rows (the chunks of one request differ only in their rows).</summary>
        IComputeRequest WithInput(TensorPayload input);

        /// <summary>The model's request, its constants (if any) new tensors on <paramref name="device"/> that the
        /// caller owns. Call only on a validated request.</summary>
        ExpertRequest ToRequest(Device device);
    }

    /// <summary>A sub-route on the wire: experts and their gate weights.</summary>
    [MessagePackObject]
    public sealed record WireRoute([property: Key(0)] int[] Experts, [property: Key(1)] float[] Weights)
    {
        public static WireRoute From(Route route) => new(route.Experts, route.Weights);

        public Route ToRoute() => new(Experts, Weights);

        public void Validate(string field)
        {
            if (Experts is not { Length: > 0 } || Weights is null || Experts.Length != Weights.Length)
                throw new InvalidDataException($"{field}: experts and weights must be non-empty and of equal length.");
            if (Experts.Any(e => e < 0)) throw new InvalidDataException($"{field}: a negative expert index.");
        }
    }

    /// <summary>One MoE linear (<see cref="LinearRequest"/>).</summary>
    [MessagePackObject]
    public sealed record ApplyLinearRequest(
        [property: Key(0)] string GroupId,
        [property: Key(1)] int Layer,
        [property: Key(2)] int Kind,
        [property: Key(3)] WireRoute Route,
        [property: Key(4)] TensorPayload Input) : IComputeRequest
    {
        [IgnoreMember]
        public MoeSite Site => new(Layer, (MoeLinearKind)Kind);

        public IComputeRequest WithInput(TensorPayload input) => this with { Input = input };

        public ExpertRequest ToRequest(Device device) => new LinearRequest(Site, Route.ToRoute());

        public void Validate()
        {
            Common(nameof(ApplyLinearRequest), GroupId, Layer, Input);
            if (!Enum.IsDefined((MoeLinearKind)Kind)) throw new InvalidDataException($"ApplyLinearRequest.Kind {Kind} is not an MoE linear.");
            Need(Route, "ApplyLinearRequest.Route").Validate("ApplyLinearRequest.Route");
        }
    }

    /// <summary>A whole MoE FFN, linear2(gelu(linear1(x))) (<see cref="FfnRequest"/>).</summary>
    [MessagePackObject]
    public sealed record ApplyFfnRequest(
        [property: Key(0)] string GroupId,
        [property: Key(1)] int Layer,
        [property: Key(2)] WireRoute Linear1,
        [property: Key(3)] WireRoute Linear2,
        [property: Key(4)] TensorPayload Input) : IComputeRequest
    {
        [IgnoreMember]
        public MoeSite Site => new(Layer, MoeLinearKind.Linear1);

        public IComputeRequest WithInput(TensorPayload input) => this with { Input = input };

        public ExpertRequest ToRequest(Device device) => new FfnRequest(Layer, Linear1.ToRoute(), Linear2.ToRoute());

        public void Validate()
        {
            Common(nameof(ApplyFfnRequest), GroupId, Layer, Input);
            Need(Linear1, "ApplyFfnRequest.Linear1").Validate("ApplyFfnRequest.Linear1");
            Need(Linear2, "ApplyFfnRequest.Linear2").Validate("ApplyFfnRequest.Linear2");
        }
    }

    /// <summary>A layer's tail after attention (<see cref="LayerTailRequest"/>): input [rows, 2D] (context, then layer
    /// input), <see cref="Constants"/> [4, D] float32 (γ1, γ2, LN2 weight and bias).</summary>
    [MessagePackObject]
    public sealed record ApplyLayerTailRequest(
        [property: Key(0)] string GroupId,
        [property: Key(1)] int Layer,
        [property: Key(2)] WireRoute Dense,
        [property: Key(3)] WireRoute Linear1,
        [property: Key(4)] WireRoute Linear2,
        [property: Key(5)] TensorPayload Constants,
        [property: Key(6)] double Eps,
        [property: Key(7)] TensorPayload Input) : IComputeRequest
    {
        [IgnoreMember]
        public MoeSite Site => new(Layer, MoeLinearKind.Dense);

        public IComputeRequest WithInput(TensorPayload input) => this with { Input = input };

        public ExpertRequest ToRequest(Device device) =>
            new LayerTailRequest(Layer, Dense.ToRoute(), Linear1.ToRoute(), Linear2.ToRoute(), new LayerTail(TensorPayloads.ToTensor(Constants, device), Eps));

        public void Validate()
        {
            Common(nameof(ApplyLayerTailRequest), GroupId, Layer, Input);
            Need(Dense, "ApplyLayerTailRequest.Dense").Validate("ApplyLayerTailRequest.Dense");
            Need(Linear1, "ApplyLayerTailRequest.Linear1").Validate("ApplyLayerTailRequest.Linear1");
            Need(Linear2, "ApplyLayerTailRequest.Linear2").Validate("ApplyLayerTailRequest.Linear2");
            Need(Constants, "ApplyLayerTailRequest.Constants").Validate("ApplyLayerTailRequest.Constants");
            if (Constants.Shape is not [4, var d] || Input.Shape[1] != 2 * d)
                throw new InvalidDataException($"ApplyLayerTailRequest: constants must be [4, D] and the input [rows, 2·D]; got [{string.Join(", ", Constants.Shape)}] and [{string.Join(", ", Input.Shape)}].");
            CheckEps("ApplyLayerTailRequest", Eps);
        }
    }

    /// <summary>A whole MoE encoder layer (<see cref="WholeLayerRequest"/>): segment i covers tokens
    /// [Starts[i], Starts[i] + Lengths[i]) with the sub-routes Routes[4i..4i+3] (qkv, out-projection, linear1, linear2);
    /// <see cref="Constants"/> [6, D] float32 (γ1, γ2, LN2 weight and bias, LN1 weight and bias); rows are whole
    /// sequences of <see cref="SequenceLength"/> tokens.</summary>
    [MessagePackObject]
    public sealed record ApplyWholeLayerRequest(
        [property: Key(0)] string GroupId,
        [property: Key(1)] int Layer,
        [property: Key(2)] int[] Starts,
        [property: Key(3)] int[] Lengths,
        [property: Key(4)] WireRoute[] Routes,
        [property: Key(5)] int Heads,
        [property: Key(6)] int SequenceLength,
        [property: Key(7)] TensorPayload Constants,
        [property: Key(8)] double Eps,
        [property: Key(9)] TensorPayload Input) : IComputeRequest
    {
        [IgnoreMember]
        public MoeSite Site => new(Layer, MoeLinearKind.QkvProj);

        public IComputeRequest WithInput(TensorPayload input) => this with { Input = input };

        public ExpertRequest ToRequest(Device device)
        {
            var segments = Starts.Select((start, i) =>
            {
                Route R(int k) => Routes[4 * i + k].ToRoute();
                return new SegmentRoutes(start, Lengths[i], R(0), R(1), R(2), R(3));
            }).ToArray();
            return new WholeLayerRequest(Layer, segments, new WholeLayer(TensorPayloads.ToTensor(Constants, device), Eps, Heads), SequenceLength);
        }

        public void Validate()
        {
            Common(nameof(ApplyWholeLayerRequest), GroupId, Layer, Input);
            if (Starts is not { Length: > 0 } || Lengths is null || Lengths.Length != Starts.Length || Routes is null || Routes.Length != 4 * Starts.Length)
                throw new InvalidDataException("ApplyWholeLayerRequest: segment starts, lengths and four sub-routes per segment are needed.");
            for (int i = 0; i < Routes.Length; i++) Need(Routes[i], $"ApplyWholeLayerRequest.Routes[{i}]").Validate($"ApplyWholeLayerRequest.Routes[{i}]");
            int next = 0;
            for (int i = 0; i < Starts.Length; i++)
            {
                if (Starts[i] != next || Lengths[i] <= 0) throw new InvalidDataException("ApplyWholeLayerRequest: segments must tile the sequence in order.");
                next += Lengths[i];
            }
            if (SequenceLength != next) throw new InvalidDataException($"ApplyWholeLayerRequest: segments cover {next} tokens, the sequence has {SequenceLength}.");
            Need(Constants, "ApplyWholeLayerRequest.Constants").Validate("ApplyWholeLayerRequest.Constants");
            if (Constants.Shape is not [6, var d] || Input.Shape[1] != d || Heads <= 0 || d % Heads != 0)
                throw new InvalidDataException($"ApplyWholeLayerRequest: constants [6, D], an input [rows, D] and heads dividing D are needed; got [{string.Join(", ", Constants.Shape)}], [{string.Join(", ", Input.Shape)}], {Heads} heads.");
            if (Input.Shape[0] % SequenceLength != 0) throw new InvalidDataException($"ApplyWholeLayerRequest: {Input.Shape[0]} rows are not whole sequences of {SequenceLength}.");
            CheckEps("ApplyWholeLayerRequest", Eps);
        }
    }

    private static void Common(string name, string groupId, int layer, TensorPayload input)
    {
        if (string.IsNullOrEmpty(groupId)) throw new InvalidDataException($"{name}.GroupId is empty.");
        if (layer < 0) throw new InvalidDataException($"{name}.Layer {layer} is negative.");
        Need(input, $"{name}.Input").Validate($"{name}.Input");
        if (input.Shape.Length != 2) throw new InvalidDataException($"{name}.Input must be [rows, in]; got rank {input.Shape.Length}.");
    }

    private static T Need<T>(T? value, string field) where T : class => value ?? throw new InvalidDataException($"{field} is missing.");

    private static void CheckEps(string name, double eps)
    {
        if (!(eps > 0 && eps < 1)) throw new InvalidDataException($"{name}: LayerNorm eps {eps} is out of (0, 1).");
    }
}

/// <summary>The frontend's side of the wire: the record that carries each case of <see cref="ExpertRequest"/>.</summary>
public static class ComputeRequests
{
    /// <summary>The wire request for <paramref name="request"/> in group <paramref name="groupId"/> with rows
    /// <paramref name="input"/>; constants are serialized as float32 (the values LayerNorm needs whatever the wire dtype).</summary>
    public static ExpertShardProtocol.IComputeRequest From(string groupId, ExpertRequest request, TensorPayload input) => request switch
    {
        LinearRequest r => new ExpertShardProtocol.ApplyLinearRequest(groupId, r.Site.Layer, (int)r.Site.Kind, ExpertShardProtocol.WireRoute.From(r.SubRoute), input),
        FfnRequest r => new ExpertShardProtocol.ApplyFfnRequest(groupId, r.Layer, ExpertShardProtocol.WireRoute.From(r.Linear1), ExpertShardProtocol.WireRoute.From(r.Linear2), input),
        LayerTailRequest r => new ExpertShardProtocol.ApplyLayerTailRequest(groupId, r.Layer, ExpertShardProtocol.WireRoute.From(r.Dense),
            ExpertShardProtocol.WireRoute.From(r.Linear1), ExpertShardProtocol.WireRoute.From(r.Linear2), TensorPayloads.FromTensor(r.Tail.Params, WireDtype.Float32), r.Tail.Eps, input),
        WholeLayerRequest r => new ExpertShardProtocol.ApplyWholeLayerRequest(groupId, r.Layer, r.Segments.Select(s => s.Start).ToArray(),
            r.Segments.Select(s => s.Length).ToArray(), r.Segments.SelectMany(s => SegmentRoutes.Kinds.Select(k => ExpertShardProtocol.WireRoute.From(s[k]))).ToArray(),
            r.Body.Heads, r.SequenceLength, TensorPayloads.FromTensor(r.Body.Params, WireDtype.Float32), r.Body.Eps, input),
        _ => throw new ArgumentException($"{request.GetType().Name} has no wire form.", nameof(request)),
    };
}
