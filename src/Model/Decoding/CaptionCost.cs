namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// The work captioning must do, counted from the model shape: the bytes a decode step has to read (its memory floor),
/// the multiply-adds it has to do (its compute floor, which binds once a batch has enough rows) and the FLOPs of a
/// vocabulary-bank build (its compute floor). fp32 throughout; an MoE linear counts as one merged
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
    /// The multiply-add FLOPs (2 per multiply-add) decode step <paramref name="step"/> of <paramref name="steps"/> does
    /// for <paramref name="batch"/> inputs, as <see cref="CaptionBeamSearcher"/> runs it when no caption ends early: the
    /// bank's scores for the step's queries (B rows at step 0, B·beam after), and unless the step is the last, one pass
    /// over [word, next query] per beam (every layer's linears for both tokens, except that the last layer's output
    /// projection and FFN serve the query alone), its attention over the prefix and the words so far, and the head's
    /// projection of the next query. Step 0 also runs the first query's pass (B rows, one token). Biases, LayerNorms,
    /// GELU and the softmax are not counted: what is left is the work a step cannot do faster than the machine's
    /// multiply-add peak.
    /// </summary>
    public static double DecodeStepFlops(UniPerceiverConfig c, int batch, int beam, int prefixTokens, int step, int steps, int bankWords)
    {
        double d = c.Hidden, f = c.Ffn;
        double qkv = 3 * d * d, rest = d * d + 2 * d * f;                          // multiply-adds per token
        double Attention(double keys) => 2 * keys * d;                             // scores and weighted values, per query
        int rows = batch * beam;
        double work = (step == 0 ? batch : rows) * (double)bankWords * d;
        if (step == 0)
            work += batch * (c.Layers * (qkv + rest + Attention(prefixTokens + 1)) + d * d);
        if (step < steps - 1)
        {
            double word = Attention(prefixTokens + step + 1), query = Attention(prefixTokens + step + 2);
            work += rows * ((c.Layers - 1) * (2 * (qkv + rest) + word + query) + 2 * qkv + rest + query + d * d);
        }
        return 2 * work;
    }

    /// <summary><see cref="DecodeStepFlops"/> averaged over the <paramref name="steps"/> steps of a caption.</summary>
    public static double MeanDecodeStepFlops(UniPerceiverConfig c, int batch, int beam, int prefixTokens, int steps, int bankWords) =>
        Enumerable.Range(0, steps).Average(t => DecodeStepFlops(c, batch, beam, prefixTokens, t, steps, bankWords));

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
