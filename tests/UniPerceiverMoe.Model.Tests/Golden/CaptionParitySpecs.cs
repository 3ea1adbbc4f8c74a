using UniPerceiverMoe.Model.Decoding;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>The vocabulary bank and CaptionBeamSearcherV3 decodes (beam 2, greedy, and the EOS-path replays).</summary>
[Trait("Category", "Golden")]
public sealed class CaptionParitySpecs(ITestOutputHelper output)
{
    /// <summary>Trace tensors live in the decoder's dispose scope: keep a detached copy.</summary>
    private static Tensor Keep(Tensor t) => t.clone().DetachFromDisposeScope();

    [Fact]
    public void Vocabulary_bank_rows_should_match_the_reference()
    {
        var rowIds = GoldenFixture.Output("vocab_bank.row_ids");
        using var rows = GoldenModel.Bank.Rows.index_select(0, rowIds);
        TensorAssert.Close(output, "vocab_bank.rows", GoldenFixture.Output("vocab_bank.rows"), rows, Tolerances.Features);
    }

    [Theory]
    [InlineData("beam2", 2)]
    [InlineData("greedy", 1)]
    [InlineData("beam2_eosW", 2)]
    [InlineData("greedy_eosW", 1)]
    public void Caption_decode_should_reproduce_ids_scores_and_first_steps(string name, int beam)
    {
        string p = "caption." + name;
        long eos = GoldenFixture.Output(p + ".eos_id").item<long>();
        var options = new CaptionOptions { BeamSize = beam, MaxLength = (int)GoldenFixture.Output(p + ".ids").shape[1], EosId = eos };
        var steps = new Dictionary<int, (Tensor LogProb, Tensor QueryEmbed, Tensor QueryFeat, Tensor QueryLayers, Tensor WordLayers)>();
        using var pixels = GoldenFixture.Input("image.clip_224").unsqueeze(0).unsqueeze(0);
        var result = CaptionBeamSearcher.Decode(GoldenModel.Runner, pixels, GoldenModel.Bank, options, trace: s =>
        {
            if (s.Step < 3) steps[s.Step] = (Keep(s.LogProb), Keep(s.QueryEmbedding), Keep(s.QueryFeature), Keep(s.QueryLayerOutputs), Keep(s.WordLayerOutputs));
        })[0];

        var ids = tensor(result.Beams.SelectMany(b => b.Ids).ToArray(), [beam, options.MaxLength]);
        TensorAssert.Equal(output, p + ".ids", GoldenFixture.Output(p + ".ids"), ids);
        TensorAssert.Close(output, p + ".score", GoldenFixture.Output(p + ".score"), tensor(result.Beams.Select(b => b.Score).ToArray()), Tolerances.Logits);
        TensorAssert.Close(output, p + ".logprob_sum", GoldenFixture.Output(p + ".logprob_sum"), tensor(result.Beams.Select(b => b.LogProbSum).ToArray()), Tolerances.Logits);
        TensorAssert.Close(output, p + ".token_logprob", GoldenFixture.Output(p + ".token_logprob"),
            tensor(result.Beams.SelectMany(b => b.TokenLogProbs).ToArray(), [beam, options.MaxLength]), Tolerances.Logits);

        foreach (var (step, s) in steps)
        {
            string sp = $"{p}.step{step}";
            if (GoldenFixture.Outputs.ContainsKey(sp + ".logprob"))
            {
                TensorAssert.Close(output, sp + ".logprob", GoldenFixture.Output(sp + ".logprob"), s.LogProb, Tolerances.Logits);
                var (top, topIds) = s.LogProb.topk(10);
                TensorAssert.Equal(output, sp + ".top10_ids", GoldenFixture.Output(sp + ".top10_ids"), topIds);
                TensorAssert.Close(output, sp + ".top10_logprob", GoldenFixture.Output(sp + ".top10_logprob"), top, Tolerances.Logits);
            }
            if (GoldenFixture.Outputs.TryGetValue(sp + ".query_embed", out var qe))
                TensorAssert.Close(output, sp + ".query_embed", qe, s.QueryEmbed.narrow(0, 0, qe.shape[0]), Tolerances.Hidden);
            if (GoldenFixture.Outputs.TryGetValue(sp + ".query_feat", out var qf))
                TensorAssert.Close(output, sp + ".query_feat", qf, s.QueryFeat, Tolerances.Features);
            if (GoldenFixture.Outputs.TryGetValue(sp + ".query_layer_outputs", out var ql))
                TensorAssert.Close(output, sp + ".query_layer_outputs", ql, s.QueryLayers, Tolerances.Hidden);
            if (GoldenFixture.Outputs.TryGetValue(sp + ".word_layer_outputs", out var wl))
                TensorAssert.Close(output, sp + ".word_layer_outputs", wl, s.WordLayers, Tolerances.Hidden);
        }
    }
}
