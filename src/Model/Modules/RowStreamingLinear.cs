using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for a few rows of x (a decode step), on the CPU, streaming each weight row once from memory: for
/// every row of W the kernel keeps up to four rows of x in registers' reach (L1) and accumulates four dot products
/// with fused multiply-adds. libtorch's GEMM packs W into a buffer at every call when x has few rows, so it reads W
/// twice and writes it once; here W is read once, which is all a memory-bound step can do.
/// Invariants: every output element is one dot product summed in the same order whatever the row count, the
/// thread count and the split of W's rows between threads, so results are deterministic and row-independent
/// (a row gets the same bits alone or in a batch). They differ from libtorch's in the last bits (summation order).
/// </summary>
internal static unsafe class RowStreamingLinear
{
    /// <summary>Below this many weight elements one thread does the whole product (a hand-off costs more).</summary>
    private const long ParallelMinWeights = 1 << 18;

    /// <summary>Whether this machine has the vector units the kernel is written for.</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated;

    /// <summary>x [M, K] float32 contiguous, weight [N, K] float32 contiguous, bias [N] or null → new [M, N].</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        int m = (int)x.shape[0], k = (int)x.shape[1], n = (int)weight.shape[0];
        var y = empty(m, n, dtype: ScalarType.Float32, device: x.device);
        float* px = Pointer(x), pw = Pointer(weight), py = Pointer(y);
        float* pb = bias is null ? null : Pointer(bias);
        int threads = Math.Min(get_num_threads(), Environment.ProcessorCount);
        if (threads <= 1 || (long)n * k < ParallelMinWeights)
        {
            Rows(px, pw, pb, py, m, k, n, 0, n);
            return y;
        }
        // Contiguous blocks of W's rows, one per thread; the caller computes one of them.
        int block = (n + threads - 1) / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
            part => Rows(px, pw, pb, py, m, k, n, part * block, Math.Min(n, (part + 1) * block)));
        return y;
    }

    private static float* Pointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>Output columns [n0, n1) of every row.</summary>
    private static void Rows(float* x, float* w, float* b, float* y, int m, int k, int n, int n0, int n1)
    {
        for (int r = n0; r < n1; r++)
        {
            float* wr = w + (long)r * k;
            float bias = b is null ? 0f : b[r];
            for (int i = 0; i < m; i += 4)
            {
                int rows = Math.Min(4, m - i);
                float* x0 = x + (long)i * k;
                // Rows past the last are aliases of the first: computed and thrown away, so the loop has one shape.
                float* x1 = rows > 1 ? x0 + k : x0, x2 = rows > 2 ? x0 + 2 * k : x0, x3 = rows > 3 ? x0 + 3 * k : x0;
                var (d0, d1, d2, d3) = Vector512.IsHardwareAccelerated ? Dot512(wr, x0, x1, x2, x3, k) : Dot256(wr, x0, x1, x2, x3, k);
                float* yi = y + (long)i * n + r;
                yi[0] = d0 + bias;
                if (rows > 1) yi[n] = d1 + bias;
                if (rows > 2) yi[2 * n] = d2 + bias;
                if (rows > 3) yi[3 * n] = d3 + bias;
            }
        }
    }

    private static (float, float, float, float) Dot512(float* w, float* x0, float* x1, float* x2, float* x3, int k)
    {
        var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var wv = Vector512.Load(w + j);
            a0 = Vector512.FusedMultiplyAdd(wv, Vector512.Load(x0 + j), a0);
            a1 = Vector512.FusedMultiplyAdd(wv, Vector512.Load(x1 + j), a1);
            a2 = Vector512.FusedMultiplyAdd(wv, Vector512.Load(x2 + j), a2);
            a3 = Vector512.FusedMultiplyAdd(wv, Vector512.Load(x3 + j), a3);
        }
        return Tail(w, x0, x1, x2, x3, j, k, Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
    }

    private static (float, float, float, float) Dot256(float* w, float* x0, float* x1, float* x2, float* x3, int k)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int j = 0;
        for (; j + 8 <= k; j += 8)
        {
            var wv = Vector256.Load(w + j);
            a0 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(x0 + j), a0);
            a1 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(x1 + j), a1);
            a2 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(x2 + j), a2);
            a3 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(x3 + j), a3);
        }
        return Tail(w, x0, x1, x2, x3, j, k, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
    }

    /// <summary>The last k mod width elements, scalar.</summary>
    private static (float, float, float, float) Tail(float* w, float* x0, float* x1, float* x2, float* x3, int j, int k,
        float d0, float d1, float d2, float d3)
    {
        for (; j < k; j++)
        {
            d0 = MathF.FusedMultiplyAdd(w[j], x0[j], d0);
            d1 = MathF.FusedMultiplyAdd(w[j], x1[j], d1);
            d2 = MathF.FusedMultiplyAdd(w[j], x2[j], d2);
            d3 = MathF.FusedMultiplyAdd(w[j], x3[j], d3);
        }
        return (d0, d1, d2, d3);
    }
}
