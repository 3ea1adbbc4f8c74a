// The caption-training attention mask of the reference (uniperceiver/modeling/encoder: _construct_attention_masks for
// image_text_pair.py package_item's doubled sequence).
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// For the sequence [spe, visual (P−1), w_0..w_{n−1}, q_0..q_{n−1}] (P = prefix length): the prefix attends to the
/// prefix only; w_i attends to the prefix and w_{≤i}; q_i attends to the prefix, w_{&lt;i} and itself. So q_i's output
/// can predict w_i without seeing it. Right-padded captions need no extra key mask: a real w_i or q_i never sees a
/// padded w_j (j ≥ length &gt; i); outputs at padded positions are ignored by the loss.
/// </summary>
public static class CaptionAttentionMask
{
    /// <summary>Whether query token <paramref name="i"/> may attend to key token <paramref name="j"/>.</summary>
    public static bool Allowed(int i, int j, int prefix, int words)
    {
        if (j < prefix) return true;
        if (i < prefix) return false;
        int wEnd = prefix + words;
        if (j >= wEnd) return i == j;                       // q_j: only itself
        int b = j - prefix;
        return i < wEnd ? b <= i - prefix : b < i - wEnd;   // w_i: w_{≤i}; q_i: w_{<i}
    }

    /// <summary>Additive bias [1, 1, N, N] (N = prefix + 2·words): 0 where allowed, <paramref name="maskValue"/>
    /// (the reference's −10000) elsewhere. A new tensor owned by the caller; broadcasts over batch and heads.</summary>
    public static Tensor Build(int prefix, int words, float maskValue, Device? device = null)
    {
        int n = prefix + 2 * words;
        var bias = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (!Allowed(i, j, prefix, words)) bias[i * n + j] = maskValue;
        return tensor(bias, [1, 1, n, n], device: device);
    }
}
