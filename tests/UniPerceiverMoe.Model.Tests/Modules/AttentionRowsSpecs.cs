using UniPerceiverMoe.Model.Modules;
using Xunit;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="AttentionRows.AccumulateValues"/>: every output lane is one multiply-add chain in key order, whatever
/// vector width the machine runs it at and however the keys are split into runs. That is what lets chunks shared
/// between queries and a beam's words scattered over rows give the bits of one pass over all keys. A 64-wide score
/// is one fixed expression at either vector width.
/// </summary>
public sealed unsafe class AttentionRowsSpecs
{
    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 37)]
    [InlineData(32, 37)]
    public void Each_value_lane_should_be_the_scalar_multiply_add_chain_in_key_order(int headDim, int keys)
    {
        var random = new Random(headDim * 1000 + keys);
        const int stride = 80;                                             // a key's values are not packed
        var values = Enumerable.Range(0, keys * stride).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var weights = Enumerable.Range(0, keys).Select(_ => (float)random.NextDouble()).ToArray();
        var start = Enumerable.Range(0, headDim).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

        var expected = (float[])start.Clone();
        for (int j = 0; j < keys; j++)
            for (int d = 0; d < headDim; d++)
                expected[d] = MathF.FusedMultiplyAdd(weights[j], values[j * stride + d], expected[d]);

        var whole = (float[])start.Clone();
        var inRuns = (float[])start.Clone();
        fixed (float* v = values)
        fixed (float* w = weights)
        fixed (float* o = whole)
        fixed (float* r = inRuns)
        {
            AttentionRows.AccumulateValues(v, stride, keys, w, headDim, o);
            for (int j0 = 0, run = 1; j0 < keys; j0 += run, run = run % 5 + 1)
            {
                int count = Math.Min(run, keys - j0);
                AttentionRows.AccumulateValues(v + (long)j0 * stride, stride, count, w + j0, headDim, r);
            }
        }
        Assert.Equal(expected, whole);
        Assert.Equal(expected, inRuns);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    public void Four_queries_sharing_value_loads_should_give_each_query_its_own_chain_in_key_order(int keys)
    {
        const int headDim = 64, stride = 80, weightStride = 41, outputStride = 100;
        var random = new Random(keys);
        var values = Enumerable.Range(0, keys * stride).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var weights = Enumerable.Range(0, 4 * weightStride).Select(_ => (float)random.NextDouble()).ToArray();
        var start = Enumerable.Range(0, 4 * outputStride).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

        var expected = (float[])start.Clone();
        for (int query = 0; query < 4; query++)
            for (int j = 0; j < keys; j++)
                for (int d = 0; d < headDim; d++)
                    expected[query * outputStride + d] = MathF.FusedMultiplyAdd(weights[query * weightStride + j], values[j * stride + d],
                        expected[query * outputStride + d]);

        var four = (float[])start.Clone();
        fixed (float* v = values)
        fixed (float* w = weights)
        fixed (float* o = four)
            AttentionRows.AccumulateValues64Four(v, stride, keys, w, weightStride, o, outputStride);
        Assert.Equal(expected, four);   // the lanes past each query's 64 are untouched too
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(37)]
    public void A_64_wide_score_should_be_two_chains_added_then_summed_in_a_fixed_tree(int keys)
    {
        var random = new Random(keys + 11);
        const int stride = 80;
        var keyRows = Floats(random, keys * stride, 4);
        var query = Floats(random, 64, 4);
        const float scale = 0.125f;
        var expected = new float[keys];
        for (int j = 0; j < keys; j++)
        {
            var lanes = new float[8];
            for (int l = 0; l < 8; l++)
            {
                float a = query[l] * keyRows[j * stride + l], c = query[8 + l] * keyRows[j * stride + 8 + l];
                for (int run = 2; run < 8; run += 2)
                {
                    a = MathF.FusedMultiplyAdd(query[run * 8 + l], keyRows[j * stride + run * 8 + l], a);
                    c = MathF.FusedMultiplyAdd(query[(run + 1) * 8 + l], keyRows[j * stride + (run + 1) * 8 + l], c);
                }
                lanes[l] = a + c;
            }
            expected[j] = (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))) * scale;
        }
        var whole = new float[keys];
        var inRuns = new float[keys];
        fixed (float* k = keyRows)
        fixed (float* q = query)
        fixed (float* s = whole)
        fixed (float* r = inRuns)
        {
            AttentionRows.Scores(q, k, stride, keys, 64, scale, s);
            for (int j0 = 0, run = 1; j0 < keys; j0 += run, run = run % 11 + 1)
                AttentionRows.Scores(q, k + (long)j0 * stride, stride, Math.Min(run, keys - j0), 64, scale, r + j0);
        }
        Assert.Equal(expected, whole);
        Assert.Equal(expected, inRuns);
    }

    private static float[] Floats(Random random, int count, float range) =>
        Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() - 0.5) * range)).ToArray();
}
