using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using UniPerceiverMoe.Model.Routing.TokenLevel;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// Token-level routing over expert-group actors: each expert's gathered tokens go to a group holding that expert as a
/// one-expert route with weight 1 (the executor applies the gate weights when it scatters the results back). All
/// experts of a call are sent before any reply is awaited (token handles detached from the caller's dispose scope: the
/// client disposes them on other threads). Blocks the calling (sequence executor) thread.
/// </summary>
public sealed class ActorTokenExpertApplier(PlacementPlan plan, ExpertGroupClient client) : ITokenExpertApplier
{
    public Tensor Apply(MoeSite site, int expert, Tensor tokens) => ApplyAll(site, [new TokenExpertRequest(expert, tokens)])[0];

    public IReadOnlyList<Tensor> ApplyAll(MoeSite site, IReadOnlyList<TokenExpertRequest> requests)
    {
        var pending = requests.Select(r => client.ApplyAsync(new LinearRequest(site, new Route([r.Expert], [1f])),
            plan.HoldersOf(new ExpertKey(site.Layer, r.Expert)), r.Tokens.alias().DetachFromDisposeScope())).ToArray();
        try
        {
            Task.WaitAll(pending);
            return pending.Select(t => t.Result).ToArray();
        }
        catch (AggregateException e)
        {
            foreach (var t in pending)
                if (t.IsCompletedSuccessfully) t.Result.Dispose();
            throw e.InnerExceptions.Count == 1 ? e.InnerExceptions[0] : e;
        }
    }
}
