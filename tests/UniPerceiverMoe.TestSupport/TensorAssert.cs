using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.TestSupport;

/// <summary>
/// Compares tensors with an absolute tolerance and reports the max difference (llm.c-style reference test).
/// Each comparison runs in a dispose scope, which holds every tensor it creates until the scope ends: a temporary
/// that is only the receiver of the next call (<c>(e - a).abs()</c>) is otherwise unreachable while that call runs in
/// libtorch, so a garbage collection on another thread may finalize it and free its native tensor mid-call (a test
/// host crashed in <c>at::_ops::abs::call</c> this way). The scope never disposes the caller's tensors.
/// </summary>
public static class TensorAssert
{
    public static double Close(ITestOutputHelper output, string name, Tensor expected, Tensor actual, double atol)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{name}: shape [{string.Join(", ", actual.shape)}] differs from the reference's [{string.Join(", ", expected.shape)}]");
        using var scope = NewDisposeScope();
        var e = expected.to_type(ScalarType.Float64).cpu();
        var a = actual.detach().to_type(ScalarType.Float64).cpu();
        var diff = (e - a).abs();
        double max = diff.numel() == 0 ? 0 : diff.max().item<double>();
        output.WriteLine($"{name}: max |diff| = {max:E3} (tolerance {atol:E1}) over {diff.numel()} values");
        Assert.True(max <= atol, $"{name}: max |diff| {max:E3} exceeds {atol:E1}");
        return max;
    }

    /// <summary>max |expected − actual| (0 for empty tensors), every temporary held by a dispose scope.</summary>
    public static double MaxAbsDifference(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var diff = (expected - actual).abs();
        return diff.numel() == 0 ? 0 : diff.max().to_type(ScalarType.Float64).item<double>();
    }

    /// <summary>max |x| (0 for an empty tensor), every temporary held by a dispose scope.</summary>
    public static double MaxAbs(Tensor x)
    {
        using var scope = NewDisposeScope();
        var magnitude = x.abs();
        return magnitude.numel() == 0 ? 0 : magnitude.max().to_type(ScalarType.Float64).item<double>();
    }

    public static void Equal(ITestOutputHelper output, string name, Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var e = expected.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        var a = actual.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        output.WriteLine($"{name}: expected [{string.Join(", ", e)}], got [{string.Join(", ", a)}]");
        Assert.Equal(e, a);
    }
}
