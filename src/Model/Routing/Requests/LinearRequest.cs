using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>One MoE linear: x·(Σ g_i W_i)ᵀ + Σ g_i b_i over the experts of <see cref="ExpertRequest.SubRoute"/> at
/// <see cref="ExpertRequest.Site"/>. Input [rows, in], result [rows, out].</summary>
public sealed record LinearRequest(MoeSite Site, Route SubRoute) : ExpertRequest(Site, SubRoute)
{
    public override Tensor Apply(Tensor input, MergedLinear linear) => linear(Site, SubRoute, input);

    public override long OutFeatures(UniPerceiverConfig model) => OutFeaturesOf(Site.Kind, model);

    public override bool SameComputation(ExpertRequest other) => other is LinearRequest o && o == this;
}
