using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>One expert's share of a call: the rows gathered for it, [n, in]. The executor owns <see cref="Tokens"/>.</summary>
public readonly record struct TokenExpertRequest(int Expert, Tensor Tokens);

/// <summary>
/// Applies single experts of an MoE linear to gathered tokens. <see cref="LocalTokenExpertApplier"/> uses the model's
/// own expert weights; the actor engine implements it by sending each request to the expert group holding the expert.
/// </summary>
public interface ITokenExpertApplier
{
    /// <summary>
    /// tokens: [n, in] (not modified, still owned by the caller). Returns tokens·W_eᵀ + b_e for
    /// <paramref name="expert"/> at <paramref name="site"/>: a new tensor [n, out] owned by the caller.
    /// </summary>
    Tensor Apply(MoeSite site, int expert, Tensor tokens);

    /// <summary>
    /// Every request of one call at once, so a remote implementation can send them all before waiting for any.
    /// Returns one result per request, in request order, each owned by the caller. The default applies them one after
    /// another and, if one fails, disposes the results already computed before rethrowing.
    /// </summary>
    IReadOnlyList<Tensor> ApplyAll(MoeSite site, IReadOnlyList<TokenExpertRequest> requests)
    {
        var results = new Tensor[requests.Count];
        try
        {
            for (int i = 0; i < requests.Count; i++) results[i] = Apply(site, requests[i].Expert, requests[i].Tokens);
            return results;
        }
        catch
        {
            foreach (var r in results) r?.Dispose();
            throw;
        }
    }
}
