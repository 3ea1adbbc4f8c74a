using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// Runs MoE linears in this process with merged weights cached per route: each token pays one dense linear
/// (no top-2 doubling). Segments with different routes are computed separately and concatenated on the token axis.
/// </summary>
public sealed class LocalMoeExecutor : IMoeLinearExecutor, IDisposable
{
    private readonly RouteTable routes;

    public LocalMoeExecutor(UniPerceiverMoeModel model, RouteTable routes)
    {
        this.routes = routes;
        Cache = new MergedWeightCache((site, route) =>
            (model.MoeAt(site) ?? throw new ArgumentException($"{site} is not an MoE linear.")).Merge(route));
    }

    public MergedWeightCache Cache { get; }

    public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing) =>
        routing.ApplyPerSegment(x, (segment, attribute) => Linear(site, segment, attribute));

    private Tensor Linear(MoeSite site, Tensor x, MoeAttribute attribute)
    {
        return Cache.Get(site, routes.RouteOf(site, attribute)).Apply(x);
    }

    public void Dispose() => Cache.Dispose();
}
