using UniPerceiverMoe.Model.Decoding;
using Xunit;

namespace UniPerceiverMoe.Model.Tests.Captioning;

/// <summary>
/// <see cref="CaptionCost.DecodeStepFlops"/>: a step's multiply-adds counted by hand for a small shape, following what
/// <see cref="CaptionBeamSearcher"/> runs: the first step adds the first query's pass, the last step scores its
/// queries and runs no pass, and the last layer's output projection and FFN serve the query alone.
/// </summary>
public sealed class CaptionCostSpecs
{
    private static readonly UniPerceiverConfig Small = new() { Layers = 2, Hidden = 4, Heads = 1, Ffn = 8 };

    [Fact]
    public void The_first_step_should_count_the_banks_scores_the_first_querys_pass_and_the_word_and_query_pass()
    {
        // d = 4, f = 8: per token qkv 3d² = 48, output projection and FFN d² + 2df = 80; attention 2·keys·d a query.
        // Scores: 1 input × 5 words × 4 = 20. First query (1 row, one token, keys 3 + 1): 2 × (48 + 80 + 32) + head 16 = 336.
        // The pass, per beam row: layer 0 both tokens 2 × 128 + word 2·4·4 = 32 + query 2·5·4 = 40; the last layer
        // qkv for both 96, the rest and attention for the query 80 + 40; the head 16: 560, × 2 rows = 1120.
        double flops = CaptionCost.DecodeStepFlops(Small, batch: 1, beam: 2, prefixTokens: 3, step: 0, steps: 3, bankWords: 5);
        Assert.Equal(2 * (20 + 336 + 1120), flops);
    }

    [Fact]
    public void The_last_step_should_count_only_the_banks_scores_for_every_beam()
    {
        double flops = CaptionCost.DecodeStepFlops(Small, batch: 3, beam: 2, prefixTokens: 3, step: 2, steps: 3, bankWords: 5);
        Assert.Equal(2 * (3 * 2 * 5 * 4), flops);
    }

    [Fact]
    public void A_middle_step_should_grow_with_the_words_its_tokens_attend_to()
    {
        double first = CaptionCost.DecodeStepFlops(Small, 2, 2, 3, step: 1, steps: 5, bankWords: 5);
        double next = CaptionCost.DecodeStepFlops(Small, 2, 2, 3, step: 2, steps: 5, bankWords: 5);
        // One more key for the word and the query in layer 0, and for the query in the last layer: 3 × 2·d a row.
        Assert.Equal(2 * (2 * 2 * 3 * 2 * 4), next - first);
    }
}
