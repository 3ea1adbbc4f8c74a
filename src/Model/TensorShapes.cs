using static TorchSharp.torch;

namespace UniPerceiverMoe.Model;

/// <summary>
/// Sizes of a tensor without TorchSharp's <c>Tensor.shape</c>, which costs about 2 µs a call (it fills a managed array
/// through a callback from native code) where <c>size(dim)</c> costs about 0.01 µs (measured on this 2-core VM,
/// docs/benchmarks.md, "Reads alone"). A decode step read shapes a few hundred times, 2–3 % of its time. Hot paths use
/// <c>size(dim)</c> for one size and <see cref="Of"/> for all of them; <c>shape</c> stays where the cost does not matter
/// (error messages, one-off setup).
/// </summary>
public static class TensorShapes
{
    /// <summary>All sizes of <paramref name="t"/>, as <c>t.shape</c> returns them (a new array the caller owns).</summary>
    public static long[] Of(Tensor t)
    {
        var sizes = new long[t.dim()];
        for (int i = 0; i < sizes.Length; i++) sizes[i] = t.size(i);
        return sizes;
    }
}
