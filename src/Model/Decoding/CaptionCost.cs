namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// The work captioning must do, counted from the model shape: the bytes a decode step has to read (its memory floor)
/// and the FLOPs of a vocabulary-bank build (its compute floor). fp32 throughout; an MoE linear counts as one merged
/// linear (its route's g1·W1 + g2·W2 is cached, so one token reads one weight matrix per linear).
/// </summary>
public static class CaptionCost
{
    private const long Float = sizeof(float);

    /// <summary>Values one encoder pass reads from the weights, whatever its token count: per layer the qkv, dense,
    /// linear1 and linear2 weights and biases, two LayerNorms and two LayerScales.</summary>
    public static long EncoderWeightValues(UniPerceiverConfig c)
    {
        long d = c.Hidden, f = c.Ffn;
        long perLayer = 3 * d * d + 3 * d + d * d + d + d * f + f + f * d + d + 4 * d + 2 * d;
        return c.Layers * perLayer;
    }

    /// <summary>Bytes decode step <paramref name="step"/> (0-based) must read at least once: the encoder weights, the
    /// head's projection, the bank [V, D], each input's visual K/V (<paramref name="prefixTokens"/> per layer, shared by
    /// its beams) and each live beam's K/V of the <paramref name="step"/> words chosen so far.</summary>
    public static double DecodeStepBytes(UniPerceiverConfig c, int batch, int beam, int prefixTokens, int step, int bankWords)
    {
        long d = c.Hidden;
        long weights = EncoderWeightValues(c) + d * d + d + 2 * d;
        long bank = (long)bankWords * d;
        int rows = step == 0 ? batch : batch * beam;
        long kvPerToken = 2L * c.Layers * d;
        long kv = kvPerToken * ((long)batch * prefixTokens + (long)rows * step);
        return (weights + bank + kv) * Float;
    }

    /// <summary><see cref="DecodeStepBytes"/> averaged over the <paramref name="steps"/> steps of a caption.</summary>
    public static double MeanDecodeStepBytes(UniPerceiverConfig c, int batch, int beam, int prefixTokens, int steps, int bankWords) =>
        Enumerable.Range(0, steps).Average(t => DecodeStepBytes(c, batch, beam, prefixTokens, t, bankWords));

    /// <summary>
    /// FLOPs of encoding <paramref name="words"/> bank sequences [spe, word, EOS]: every linear as 2·M·K·N, attention
    /// scores and weighted sums as 2·N_q·N_k·D each, the head's projection on the spe row. In the last layer only
    /// <paramref name="lastLayerQueries"/> tokens (3 = all, 1 = the spe row the bank keeps) go past the qkv projection.
    /// LayerNorm, GELU and the softmax are not counted (they are not GEMM work).
    /// </summary>
    public static double BankFlops(UniPerceiverConfig c, long words, int lastLayerQueries = 3)
    {
        const int tokens = 3;
        double d = c.Hidden, f = c.Ffn;
        double qkv = 2.0 * tokens * 3 * d * d;
        double Rest(int queries) => 2.0 * queries * tokens * d * 2 + 2.0 * queries * (d * d + 2 * d * f);
        double perWord = (c.Layers - 1) * (qkv + Rest(tokens)) + qkv + Rest(lastLayerQueries) + 2.0 * d * d;
        return perWord * words;
    }
}
