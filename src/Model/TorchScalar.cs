// TorchSharp 0.107 creates finalizable native Scalars that nothing references once their handle has been read, and a GC
// during the native call can finalize one: libtorch then fails with "Unknown scalar type", "Expected false to be true"
// (Scalar::toFloat) or worse. Two sources, both closed here:
//   1. implicit conversions at our call sites (x.mul(0.5), full(n, 1f), t * 3): every number passed to a tensor call
//      in src/ goes through Use, which holds the Scalar in a `using` until the call returns;
//   2. TorchSharp's own overloads that pass a literal (add(t) is add(t, 1), add_(s) is add_(s, 1), t1 + t2, arange(n)
//      is arange(0, n, 1), Adam's add_(g, alpha: 1 - β1)): src/ calls Plus, PlusInPlace and Arange below instead,
//      which pass Scalars held for the life of the process.
// UnrootedScalarSpecs scans the compiled assemblies for either kind of call, so a new one fails the build's tests.
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model;

public static class TorchScalar
{
    // Static roots: never finalized, never disposed; c10::Scalar is immutable, so sharing them across threads is safe.
    private static readonly Scalar Zero = 0L.ToScalar();
    private static readonly Scalar One = 1L.ToScalar();   // what add(t)'s implicit `1` made: an integral alpha of 1

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

    /// <summary>x + y as a new tensor (TorchSharp's <c>x + y</c> and <c>x.add(y)</c> pass an unheld alpha).</summary>
    public static Tensor Plus(this Tensor x, Tensor y) => x.add(y, One);

    /// <summary>x += y in place; returns x.</summary>
    public static Tensor PlusInPlace(this Tensor x, Tensor y) => x.add_(y, One);

    /// <summary>x += <paramref name="value"/> in place; returns x.</summary>
    public static Tensor PlusInPlace(this Tensor x, long value)
    {
        using var scalar = value.ToScalar();
        return x.add_(scalar, One);
    }

    /// <summary>x += <paramref name="value"/> in place, with a Scalar the caller holds; returns x.</summary>
    public static Tensor PlusInPlace(this Tensor x, Scalar value) => x.add_(value, One);

    /// <summary>0, 1, …, count − 1 as int64 on <paramref name="device"/> (TorchSharp's arange(n) passes an unheld 0 and 1).</summary>
    public static Tensor Arange(long count, Device device)
    {
        using var stop = count.ToScalar();
        return arange(Zero, stop, One, ScalarType.Int64, device);
    }
}
