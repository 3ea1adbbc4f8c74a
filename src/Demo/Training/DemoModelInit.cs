// Initialisation after the reference's MAEParamsInit (xavier-uniform linears, N(0, 0.02) embeddings, LayerNorm 1/0,
// zero biases, fixed 2-D sin-cos spatial positions, logit scales ln(1/0.07)).
using TorchSharp;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

public static class DemoModelInit
{
    /// <summary>
    /// A trainable model (train mode, gradients on except the fixed spatial table), initialised from
    /// <paramref name="seed"/>. LayerScale γ starts at <paramref name="gammaInit"/> (the reference uses 1e-3 for deep
    /// models; a larger start lets a 4-layer model learn in minutes). The temporal table starts as a 1-D sin-cos table
    /// times <paramref name="temporalScale"/>.
    /// </summary>
    public static UniPerceiverMoeModel Create(UniPerceiverConfig config, long seed, float gammaInit, float temporalScale = 1f)
    {
        // Every random draw below comes from this generator, never torch's global one: tests and the host run other
        // models in parallel threads, and a shared global stream would make "same seed, same model" a race.
        using var generator = new Generator((ulong)seed);
        var model = new UniPerceiverMoeModel(config);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("spatial_pos_embed.weight", StringComparison.Ordinal))
            {
                using var table = SinCos2d(config.ImageSize / config.Patch, config.Hidden);
                p.copy_(table);
                p.requires_grad = false;                    // POSEMBEDFIX: the spatial table is not learned
            }
            else if (name.EndsWith("temporal_pos_embed.weight", StringComparison.Ordinal))
            {
                // Deviation for short training: N(0, 0.02) frame embeddings are ~50× smaller than the patch features,
                // so frame order would take hundreds of steps to surface; a 1-D sin-cos start (times temporalScale,
                // 4 in the default recipe; learned afterwards) makes it visible from step 0. Measured: scale 4 with
                // lr 7e-4 learned the actions (direction, appear/disappear, colour order) that scale 1 with lr 2e-3
                // had not learned in 2,000 steps (docs/benchmarks-training.md).
                using var table = SinCos1d((int)p.size(0), config.Hidden);
                TorchScalar.Use(temporalScale, s => table.mul_(s));
                p.copy_(table);
            }
            else if (name.EndsWith("gamma_1", StringComparison.Ordinal) || name.EndsWith("gamma_2", StringComparison.Ordinal))
                TorchScalar.Use(gammaInit, g => p.fill_(g));
            else if (name.Contains("logit_scale_", StringComparison.Ordinal) || IsLayerNorm(name))
                continue;
            else if (IsEmbedding(name))
                Normal(p, 0.02, generator);
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.zero_();
            else if (p.dim() == 4)
            {
                // Patch conv as a linear of 3·p·p inputs (MAE's xavier on the flattened weight).
                double fanIn = p.size(1) * p.size(2) * p.size(3), fanOut = p.size(0);
                double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
                Uniform(p, bound, generator);
            }
            else if (p.dim() == 2)
            {
                double bound = Math.Sqrt(6.0 / (p.size(0) + p.size(1)));   // xavier-uniform, gain 1
                Uniform(p, bound, generator);
            }
        }
        model.train();
        return model;
    }

    /// <summary>Fixed 2-D sin-cos table [g·g, D] for a g×g patch grid (scale 1): row k = r·g + c holds
    /// [sin(r·ω), cos(r·ω), sin(c·ω), cos(c·ω)], ω_d = 10000^(−d/(D/4)), d ∈ [0, D/4).</summary>
    public static Tensor SinCos2d(int grid, int hidden)
    {
        if (hidden % 4 != 0) throw new ArgumentException($"hidden {hidden} must be a multiple of 4 for the 2-D sin-cos table.");
        int quarter = hidden / 4;
        var table = new float[grid * grid * hidden];
        for (int r = 0; r < grid; r++)
            for (int c = 0; c < grid; c++)
            {
                int o = (r * grid + c) * hidden;
                for (int d = 0; d < quarter; d++)
                {
                    double omega = Math.Pow(10000, -(double)d / quarter);
                    table[o + d] = (float)Math.Sin(r * omega);
                    table[o + quarter + d] = (float)Math.Cos(r * omega);
                    table[o + 2 * quarter + d] = (float)Math.Sin(c * omega);
                    table[o + 3 * quarter + d] = (float)Math.Cos(c * omega);
                }
            }
        return tensor(table, [grid * grid, hidden]);
    }

    /// <summary>1-D sin-cos table [n, D]: row t = [sin(t·ω), cos(t·ω)], ω_d = 10000^(−d/(D/2)), d ∈ [0, D/2).</summary>
    public static Tensor SinCos1d(int positions, int hidden)
    {
        int half = hidden / 2;
        var table = new float[positions * hidden];
        for (int t = 0; t < positions; t++)
            for (int d = 0; d < half; d++)
            {
                double omega = Math.Pow(10000, -(double)d / half);
                table[t * hidden + d] = (float)Math.Sin(t * omega);
                table[t * hidden + half + d] = (float)Math.Cos(t * omega);
            }
        return tensor(table, [positions, hidden]);
    }

    // Drawn with torch.randn / torch.rand on the given generator and copied in: TorchSharp 0.107's nn.init overloads
    // with a generator still read the global one (DemoTrainerSpecs' determinism spec caught it).
    private static void Normal(Tensor p, double std, Generator generator)
    {
        using var draw = randn(p.shape, dtype: p.dtype, device: p.device, generator: generator);
        TorchScalar.Use(std, s => draw.mul_(s));
        p.copy_(draw);
    }

    private static void Uniform(Tensor p, double bound, Generator generator)
    {
        using var draw = rand(p.shape, dtype: p.dtype, device: p.device, generator: generator);
        TorchScalar.Use(2 * bound, width => draw.mul_(width));
        TorchScalar.Use(bound, b => draw.sub_(b));
        p.copy_(draw);
    }

    private static bool IsLayerNorm(string name) =>
        name.Contains("norm", StringComparison.Ordinal) || name.Contains("ln_post", StringComparison.Ordinal)
        || name.Contains("tag_transform.1", StringComparison.Ordinal);

    private static bool IsEmbedding(string name) =>
        name is "token_embed.embeddings.weight" or "token_embed.embeddings_pos.position_embeddings.weight"
            or "token_embed.embeddings_token_type.weight" or "video_embed.embeddings_type.weight";
}
