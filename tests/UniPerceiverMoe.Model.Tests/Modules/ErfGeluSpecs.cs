using UniPerceiverMoe.Model.Modules;
using Xunit;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="ErfGelu"/>: every element gets the scalar path's bits (vector lanes, tails, any shape and split), the
/// values stay within 5e−7 of a float64 GELU, no further from it than libtorch's float32 GELU, and within 4 units in
/// the last place on (−1, 1), and tensors the
/// kernel does not take get libtorch's GELU unchanged. (All 2^32 float bit patterns were checked vector against
/// scalar once, outside the specs: 0 differences; docs/benchmarks.md.)
/// </summary>
public sealed class ErfGeluSpecs
{
    public static readonly float[] SpecialValues =
    [
        0f, -0f, float.Epsilon, -float.Epsilon, 1e-38f, -1e-38f, 1e-20f, -1e-20f, 5.57e-8f, -5.57e-8f, 0.5f, -0.5f, 1f, -1f,
        3f, -3f, 5.5f, -5.5f, 9.3f, -9.3f, 13.4f, -13.4f, 14.42f, -14.42f, 14.43f, -14.43f, 20f, -20f, 1e10f, -1e10f,
        float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity,
    ];

    [Fact]
    public unsafe void Vector_lanes_and_the_scalar_tail_give_the_same_bits()
    {
        if (!ErfGelu.Supported) return;                                         // libtorch's gelu: nothing of ours to compare
        var g = new Generator(11);
        using var normal = randn(1 << 16, generator: g);
        var values = normal.data<float>().ToArray().Select((v, i) => v * (i % 3 == 0 ? 0.01f : i % 3 == 1 ? 1f : 10f))
            .Concat(SpecialValues).Append(float.NaN).ToArray();
        var output = new float[values.Length];
        fixed (float* x = values)
        fixed (float* y = output)
            ErfGelu.Span(x, y, values.Length);                                  // all but the last few through vectors

        for (int i = 0; i < values.Length; i++)
        {
            float scalar = ErfGelu.Of(values[i]);
            if (float.IsNaN(scalar) || float.IsNaN(output[i])) Assert.Equal(float.IsNaN(scalar), float.IsNaN(output[i]));
            else Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(output[i]));
        }
    }

    [Fact]
    public void It_should_stay_within_5e_7_of_a_float64_gelu_no_further_than_libtorch_float32_and_within_4_ulp_near_0()
    {
        if (!ErfGelu.Supported) return;
        using var _ = no_grad();
        var g = new Generator(12);
        using var uniform = rand(1 << 20, generator: g);
        using var x = TorchScalar.Use(20f, span => TorchScalar.Use(10f, shift => uniform.mul(span).sub_(shift)));  // [−10, 10)
        using var truth = nn.functional.gelu(x.to_type(ScalarType.Float64));
        using var ours = ErfGelu.Apply(x);
        using var theirs = nn.functional.gelu(x);

        double ourError = MaxAbsError(ours, truth), libtorchError = MaxAbsError(theirs, truth);

        Assert.True(ourError <= 5e-7, $"largest absolute error {ourError:E2}");
        Assert.True(ourError <= libtorchError, $"ours {ourError:E2}, libtorch's float32 GELU {libtorchError:E2}");

        // Where most activations are, within a few units in the last place (the erf series' range and a little beyond).
        var values = x.data<float>().ToArray();
        var exact = truth.data<double>().ToArray();
        var ours32 = ours.data<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (MathF.Abs(values[i]) >= 1f) continue;
            float nearest = (float)exact[i];
            double ulp = Math.Max(MathF.BitIncrement(MathF.Abs(nearest)) - MathF.Abs(nearest), float.Epsilon);
            worst = Math.Max(worst, Math.Abs(ours32[i] - exact[i]) / ulp);
        }
        Assert.True(worst <= 4, $"up to {worst:0.0} units in the last place on (−1, 1)");
    }

    [Theory]
    [InlineData(7, 1000)]                                                      // columns past the last whole panel and vector
    [InlineData(33, 3072)]
    [InlineData(1, 70)]
    public void Each_element_gets_the_scalar_bits_whatever_the_shape_and_the_split(int rows, int columns)
    {
        if (!ErfGelu.Supported) return;
        using var _ = no_grad();
        var g = new Generator((ulong)(rows * columns));
        using var x = randn([rows, columns], generator: g);
        var previous = KernelThreads.Pin(2);                                   // split between the caller and a worker
        try
        {
            using var split = ErfGelu.Apply(x);
            KernelThreads.Pin(1);
            using var alone = ErfGelu.Apply(x);
            var expected = Bits(x.data<float>().ToArray().Select(v => ErfGelu.Of(v)));
            Assert.Equal(expected, Bits(split.data<float>()));
            Assert.Equal(expected, Bits(alone.data<float>()));
        }
        finally
        {
            KernelThreads.Pin(previous);
        }
    }

    [Fact]
    public void Tensors_it_does_not_take_get_libtorch_gelu()
    {
        using var _ = no_grad();
        var g = new Generator(13);
        using var wide = randn([6, 8], generator: g);
        using var strided = wide.transpose(0, 1);                              // not contiguous
        using var doubles = randn([4, 5], ScalarType.Float64, generator: g);
        foreach (var x in new[] { strided, doubles })
        {
            using var ours = ErfGelu.Apply(x);
            using var theirs = nn.functional.gelu(x);
            using var same = ours.eq(theirs).all();
            Assert.True(same.item<bool>());
        }
    }

    [Fact]
    public void A_tensor_that_needs_gradients_gets_libtorch_gelu_only_while_autograd_records()
    {
        if (!ErfGelu.Supported) return;
        var g = new Generator(17);
        using var x = randn([3, 70], generator: g).requires_grad_();
        using (var recorded = ErfGelu.Apply(x))
        using (var theirs = nn.functional.gelu(x))
        using (var recordedValues = recorded.detach())
        using (var theirValues = theirs.detach())
        {
            Assert.True(recorded.requires_grad);                                // libtorch's gelu, with its graph
            Assert.Equal(Bits(theirValues.data<float>().ToArray()), Bits(recordedValues.data<float>().ToArray()));
        }
        using (no_grad())
        using (var ours = ErfGelu.Apply(x))
        using (var values = x.detach())
        {
            // Nothing records: the kernel's bits, as for any other tensor (the trainer's graph is not at stake).
            Assert.False(ours.requires_grad);
            Assert.Equal(Bits(values.data<float>().ToArray().Select(ErfGelu.Of)), Bits(ours.data<float>().ToArray()));
        }
    }

    private static int[] Bits(IEnumerable<float> values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static double MaxAbsError(Tensor value, Tensor truth)
    {
        using var asDouble = value.to_type(ScalarType.Float64);
        using var difference = asDouble.sub(truth);
        using var error = difference.abs_().max();
        return error.item<double>();
    }
}
