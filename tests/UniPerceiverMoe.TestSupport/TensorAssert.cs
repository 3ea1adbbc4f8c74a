using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.TestSupport;

/// <summary>Compares tensors with an absolute tolerance and reports the max difference (llm.c-style reference test).</summary>
public static class TensorAssert
{
    public static double Close(ITestOutputHelper output, string name, Tensor expected, Tensor actual, double atol)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{name}: shape [{string.Join(", ", actual.shape)}] differs from the reference's [{string.Join(", ", expected.shape)}]");
        using var e = expected.to_type(ScalarType.Float64).cpu();
        using var a = actual.detach().to_type(ScalarType.Float64).cpu();
        using var diff = (e - a).abs();
        double max = diff.numel() == 0 ? 0 : diff.max().item<double>();
        output.WriteLine($"{name}: max |diff| = {max:E3} (tolerance {atol:E1}) over {diff.numel()} values");
        Assert.True(max <= atol, $"{name}: max |diff| {max:E3} exceeds {atol:E1}");
        return max;
    }

    public static void Equal(ITestOutputHelper output, string name, Tensor expected, Tensor actual)
    {
        var e = expected.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        var a = actual.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        output.WriteLine($"{name}: expected [{string.Join(", ", e)}], got [{string.Join(", ", a)}]");
        Assert.Equal(e, a);
    }
}
