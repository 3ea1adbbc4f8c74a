using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Routing.TokenLevel;

/// <summary>A small random model whose gates are re-drawn with std 1, so that normed tokens (norm ≈ √D) get peaked,
/// token-dependent routes instead of the near-uniform ones a default init gives.</summary>
internal static class TokenLevelTestModel
{
    public static UniPerceiverMoeModel Create(int seed, int layers = 2)
    {
        manual_seed(seed);
        var model = new UniPerceiverMoeModel(UniPerceiverConfig.Tiny with { Layers = layers });
        model.eval();
        using var noGrad = no_grad();
        foreach (var site in model.MoeSites()) model.MoeAt(site)!.Gate.WgWeight.normal_(0, 1);
        return model;
    }

    /// <summary>Random normed hidden states [B, N, D] like a layer's LN output.</summary>
    public static Tensor Hidden(int batch, int tokens, int width)
    {
        using var x = randn(batch, tokens, width);
        return nn.functional.layer_norm(x, [width]);
    }
}
