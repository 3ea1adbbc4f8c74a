using UniPerceiverMoe.Model.Modules;
using Xunit;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="AttentionRows.AccumulateValues"/>: every output lane is one multiply-add chain in key order, whatever
/// vector width the machine runs it at and however the keys are split into runs. That is what lets chunks shared
/// between queries and a beam's words scattered over rows give the bits of one pass over all keys.
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
}
