using UniPerceiverMoe.Model.Decoding;
using Xunit;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Captioning;

/// <summary>
/// <see cref="BeamCandidates"/>: the CPU pass selects what the reference's masked arithmetic in tensor ops selects,
/// the same values and the same indices, for live and finished beams, vocabularies that are and are not whole
/// vectors, and inputs whose beams have all finished; a finished beam's non-EOS words enter only when nothing better
/// is left, earliest first.
/// </summary>
public sealed class BeamCandidatesSpecs
{
    [Theory]
    [InlineData(1, 1, 2, 37)]
    [InlineData(3, 2, 2, 1000)]
    [InlineData(4, 3, 3, 4099)]
    public void The_cpu_pass_should_select_what_the_tensor_arithmetic_selects(int batch, int cur, int beam, int vocab)
    {
        using var _ = no_grad();
        var g = new Generator((ulong)(batch * 1000 + vocab));
        using var logits = TorchScalar.Use(4f, four => randn([batch * cur, vocab], generator: g).mul_(four));
        using var logprob = logits.log_softmax(-1);
        using var cumulative = TorchScalar.Use(-30f, scale => rand([batch, cur, 1], generator: g).mul_(scale));
        long eos = vocab / 3;
        // Input 0's beams all finished (when it has several), the others a mix; with one beam row (cur 1) all are live.
        Tensor? live = null;
        if (cur > 1)
        {
            var mask = new float[batch * cur];
            for (int i = 0; i < mask.Length; i++) mask[i] = i < cur ? 0 : (i % 2 == 0 ? 1 : 0);
            live = tensor(mask, [batch, cur, 1]);
        }
        try
        {
            var (values, indices) = BeamCandidates.TopK(logprob, cumulative, live, eos, beam);
            var (expectedValues, expectedIndices) = BeamCandidates.TopKTensors(logprob, cumulative, live, eos, beam);
            using (values) using (indices) using (expectedValues) using (expectedIndices)
            {
                Assert.Equal(expectedValues.data<float>().ToArray(), values.data<float>().ToArray());
                Assert.Equal(expectedIndices.data<long>().ToArray(), indices.data<long>().ToArray());
                if (cur > 1)
                {
                    // Premise: input 0 (all finished) could only pick its beams' EOS.
                    var first = indices.data<long>().Take(beam).ToArray();
                    Assert.All(first.Take(cur), index => Assert.Equal(eos, index % vocab));
                }
            }
        }
        finally
        {
            live?.Dispose();
        }
    }

    [Fact]
    public void A_finished_beams_other_words_should_enter_earliest_first_only_when_nothing_better_is_left()
    {
        using var _ = no_grad();
        const int vocab = 40, beam = 3;
        using var logprob = TorchScalar.Use(-1f, minusOne => full(2, vocab, minusOne));
        // Beam 0 is live but far below the finished constant; beam 1 finished at −5 (its EOS, row 7).
        using var cumulative = tensor(new[] { -5000f, -5f }, [1, 2, 1]);
        using var live = tensor(new[] { 1f, 0f }, [1, 2, 1]);
        var (values, indices) = BeamCandidates.TopK(logprob, cumulative, live, 7, beam);
        using (values) using (indices)
        {
            Assert.Equal(new[] { -5f, BeamCandidates.Finished, BeamCandidates.Finished }, values.data<float>().ToArray());
            Assert.Equal(new long[] { vocab + 7, vocab + 0, vocab + 1 }, indices.data<long>().ToArray());
        }
    }

    [Fact]
    public void It_should_refuse_a_beam_wider_than_its_candidates_and_an_eos_outside_the_bank()
    {
        using var logprob = zeros(1, 1);
        using var cumulative = zeros(1, 1, 1);
        Assert.Contains("fewer candidates", Assert.Throws<ArgumentException>(() => BeamCandidates.TopK(logprob, cumulative, null, 0, 2)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => BeamCandidates.TopK(logprob, cumulative, null, 3, 1));
    }

    [Fact]
    public void It_should_leave_operands_it_cannot_read_in_place_to_the_tensor_ops()
    {
        using var logprob = zeros(2, 5);
        using var cumulative = zeros(1, 2, 1);
        using var doubles = zeros([1, 2, 1], ScalarType.Float64);
        using var wide = zeros(1, 2, 2);
        using var strided = wide.narrow(2, 0, 1);                                       // [1, 2, 1], every other float
        Assert.True(BeamCandidates.Handles(logprob, cumulative, null));
        Assert.False(BeamCandidates.Handles(logprob, doubles, null));
        Assert.False(BeamCandidates.Handles(logprob, cumulative, strided));
        Assert.Contains("TopKTensors", Assert.Throws<ArgumentException>(() => BeamCandidates.TopK(logprob, doubles, null, 0, 2)).Message);
    }
}
