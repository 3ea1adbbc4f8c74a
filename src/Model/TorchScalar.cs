// TorchSharp 0.107's implicit conversions (x.mul(0.5), full(n, 1f), t * 3, arange(n)) create a finalizable native
// Scalar that nothing references once its handle has been read; a GC during the native call can finalize it, and
// libtorch then fails with "Unknown scalar type" (or worse). It happened in a demo training run after ~250 steps.
// Every tensor call in src/ that takes a number goes through Use, which keeps the Scalar alive until the call returns.
using TorchSharp;

namespace UniPerceiverMoe.Model;

public static class TorchScalar
{
    /// <summary>Runs <paramref name="op"/> with <paramref name="value"/> as a floating Scalar that is disposed only after
    /// it returns. c10::Scalar holds every floating value as a double (as the implicit conversion of a float did), and
    /// libtorch applies it in the tensor's dtype, like a Python number.</summary>
    public static T Use<T>(double value, Func<Scalar, T> op)
    {
        using var scalar = value.ToScalar();
        return op(scalar);
    }

    /// <summary>As <see cref="Use{T}(double, Func{Scalar, T})"/> with an int64 Scalar (indices, counts, token ids).</summary>
    public static T Use<T>(long value, Func<Scalar, T> op)
    {
        using var scalar = value.ToScalar();
        return op(scalar);
    }

    /// <summary>Two Scalars held for one call (e.g. arange(start, stop), or a value and an alpha).</summary>
    public static T Use<T>(long first, long second, Func<Scalar, Scalar, T> op)
    {
        using var a = first.ToScalar();
        using var b = second.ToScalar();
        return op(a, b);
    }
}
