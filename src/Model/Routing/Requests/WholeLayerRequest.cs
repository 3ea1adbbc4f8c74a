using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>
/// A whole MoE encoder layer <see cref="Layer"/> in one request (<see cref="WholeLayer.Apply"/>): the input is the
/// layer input of whole sequences of <see cref="SequenceLength"/> tokens ([B, N, D], or [B·N, D] rows), the result the
/// layer output of the same shape. Its first linear is the first segment's qkv. One hop per MoE layer; for passes
/// without key/value cache or key bias. <see cref="Body"/>'s Params [6, D] are owned by the request, like its input.
/// </summary>
public sealed record WholeLayerRequest(int Layer, IReadOnlyList<SegmentRoutes> Segments, WholeLayer Body, int SequenceLength)
    : ExpertRequest(new MoeSite(Layer, MoeLinearKind.QkvProj), Segments[0].Qkv)
{
    public override Tensor Apply(Tensor input, MergedLinear linear)
    {
        using var sequences = input.reshape(-1, SequenceLength, input.size(-1));   // rows are whole sequences
        using var result = Body.Apply(sequences, Segments.Select(s => (s.Start, s.Length)).ToArray(),
            (i, kind, part) => linear(new MoeSite(Layer, kind), Segments[i][kind], part));
        return result.reshape(TensorShapes.Of(input));
    }

    public override long OutFeatures(UniPerceiverConfig model) => model.Hidden;

    public override int RowsPerUnit => SequenceLength;

    public override Tensor? Constants => Body.Params;

    public override ExpertRequest WithConstants(Tensor constants) => this with { Body = Body with { Params = constants } };

    public override bool SameComputation(ExpertRequest other) => other is WholeLayerRequest o && o.Layer == Layer && o.SequenceLength == SequenceLength
        && o.Body.Eps == Body.Eps && o.Body.Heads == Body.Heads && SameShape(o.Body.Params, Body.Params) && o.Segments.SequenceEqual(Segments);
}
