using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for a few rows of x on a CPU with 256-bit vectors but not 512-bit ones (with them,
/// <see cref="PanelLinear"/> computes these products): each W row is streamed once from memory as dot products against
/// up to four x rows that stay in L1/L2; more than four rows take two W rows at a time (six loads, eight multiply-adds).
/// libtorch's GEMM packs W into a buffer at every call when x has few rows, so it reads W twice and writes it once;
/// here W is read once.
/// Invariants: every output element is one dot product summed in the same order (lane-wise FMAs over k in steps of
/// the vector width, then a horizontal sum, then the scalar tail) whatever the row count, the blocking, the thread
/// count and the split of W's rows between threads, so results are deterministic and row-independent (a row gets the
/// same bits alone or in a batch). They differ from libtorch's, and from <see cref="PanelLinear"/>'s, in the last bits
/// (summation order).
/// </summary>
internal static unsafe class RowStreamingLinear
{
    /// <summary>Below this many multiply-adds one thread does the whole product (a hand-off costs more).</summary>
    private const long ParallelMinWork = 1 << 18;

    /// <summary>Whether this machine has the vector units the kernel is written for.</summary>
    public static bool Supported => Vector256.IsHardwareAccelerated;

    /// <summary>Writes y = x·Wᵀ + b for <paramref name="rows"/> rows: x holds rows × K float32 and y rows × N float32,
    /// both contiguous whatever their shapes ([..., K] and [..., N]); weight [N, K] float32 contiguous; bias [N] or null.</summary>
    public static void Compute(Tensor x, Tensor weight, Tensor? bias, Tensor y, int rows)
    {
        int k = (int)weight.size(1), n = (int)weight.size(0);
        var job = new Job(TensorMemory.Floats(x), TensorMemory.Floats(weight), bias is null ? null : TensorMemory.Floats(bias), TensorMemory.Floats(y), rows, k, n);
        int threads = KernelThreads.Parallelism;
        if (threads <= 1 || (long)n * k * rows < ParallelMinWork)
        {
            job.Rows(0, n);
            return;
        }
        // Contiguous blocks of W's rows (a multiple of four, so pairs never straddle threads), one per thread; the caller
        // computes one of them.
        int block = ((n + threads - 1) / threads + 3) & ~3;
        KernelThreads.For(threads, part => job.Rows(Math.Min(n, part * block), Math.Min(n, (part + 1) * block)));
    }

    /// <summary>One product's operands; <see cref="Rows"/> computes output columns [n0, n1) of every row.</summary>
    private readonly struct Job(float* x, float* w, float* b, float* y, int m, int k, int n)
    {
        public void Rows(int n0, int n1)
        {
            var dots = stackalloc float[8];
            if (m <= 4)
            {
                for (int r = n0; r < n1; r++) Single(r, dots);
                return;
            }
            int p = n0;
            for (; p + 2 <= n1; p += 2) Pair(p, p + 1, dots);
            // An odd last row pairs with itself: computed twice, stored once, so the loop keeps one shape.
            if (p < n1) Pair(p, p, dots);
        }

        /// <summary>Column <paramref name="r"/> of the (at most four) rows.</summary>
        private void Single(int r, float* dots)
        {
            Block(0, out float* x0, out float* x1, out float* x2, out float* x3);
            Dot256(w + (long)r * k, x0, x1, x2, x3, k, dots);
            Store(0, m, r, dots);
        }

        private void Pair(int r0, int r1, float* dots)
        {
            float* w0 = w + (long)r0 * k, w1 = w + (long)r1 * k;
            for (int i = 0; i < m; i += 4)
            {
                int rows = Block(i, out float* x0, out float* x1, out float* x2, out float* x3);
                Dot256(w0, w1, x0, x1, x2, x3, k, dots);
                Store(i, rows, r0, dots);
                if (r1 != r0) Store(i, rows, r1, dots + 4);
            }
        }

        /// <summary>The block of (at most four) x rows from row <paramref name="i"/>; returns how many are real. Rows past
        /// the last are aliases of the first: computed and thrown away, so the loops have one shape.</summary>
        private int Block(int i, out float* x0, out float* x1, out float* x2, out float* x3)
        {
            int rows = Math.Min(4, m - i);
            x0 = x + (long)i * k;
            x1 = rows > 1 ? x0 + k : x0;
            x2 = rows > 2 ? x0 + 2 * k : x0;
            x3 = rows > 3 ? x0 + 3 * k : x0;
            return rows;
        }

        /// <summary>dots[0..rows) are column <paramref name="col"/> of rows i, i + 1, …</summary>
        private void Store(int i, int rows, int col, float* dots)
        {
            float bias = b is null ? 0f : b[col];
            float* yi = y + (long)i * n + col;
            for (int j = 0; j < rows; j++) yi[(long)j * n] = dots[j] + bias;
        }
    }

    /// <summary>dots[0..4) = w·x0..x3.</summary>
    private static void Dot256(float* w, float* x0, float* x1, float* x2, float* x3, int k, float* dots)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int j = 0;
        for (; j + 8 <= k; j += 8)
        {
            var u = Vector256.Load(w + j);
            a0 = Vector256.FusedMultiplyAdd(u, Vector256.Load(x0 + j), a0);
            a1 = Vector256.FusedMultiplyAdd(u, Vector256.Load(x1 + j), a1);
            a2 = Vector256.FusedMultiplyAdd(u, Vector256.Load(x2 + j), a2);
            a3 = Vector256.FusedMultiplyAdd(u, Vector256.Load(x3 + j), a3);
        }
        dots[0] = Vector256.Sum(a0); dots[1] = Vector256.Sum(a1); dots[2] = Vector256.Sum(a2); dots[3] = Vector256.Sum(a3);
        Tail(w, x0, x1, x2, x3, j, k, dots);
    }

    /// <summary>dots[0..4) = w0·x0..x3, dots[4..8) = w1·x0..x3.</summary>
    private static void Dot256(float* w0, float* w1, float* x0, float* x1, float* x2, float* x3, int k, float* dots)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var c0 = a0; var c1 = a0; var c2 = a0; var c3 = a0;
        int j = 0;
        for (; j + 8 <= k; j += 8)
        {
            var u = Vector256.Load(w0 + j);
            var v = Vector256.Load(w1 + j);
            var e = Vector256.Load(x0 + j);
            a0 = Vector256.FusedMultiplyAdd(u, e, a0);
            c0 = Vector256.FusedMultiplyAdd(v, e, c0);
            e = Vector256.Load(x1 + j);
            a1 = Vector256.FusedMultiplyAdd(u, e, a1);
            c1 = Vector256.FusedMultiplyAdd(v, e, c1);
            e = Vector256.Load(x2 + j);
            a2 = Vector256.FusedMultiplyAdd(u, e, a2);
            c2 = Vector256.FusedMultiplyAdd(v, e, c2);
            e = Vector256.Load(x3 + j);
            a3 = Vector256.FusedMultiplyAdd(u, e, a3);
            c3 = Vector256.FusedMultiplyAdd(v, e, c3);
        }
        dots[0] = Vector256.Sum(a0); dots[1] = Vector256.Sum(a1); dots[2] = Vector256.Sum(a2); dots[3] = Vector256.Sum(a3);
        dots[4] = Vector256.Sum(c0); dots[5] = Vector256.Sum(c1); dots[6] = Vector256.Sum(c2); dots[7] = Vector256.Sum(c3);
        Tail(w0, w1, x0, x1, x2, x3, j, k, dots);
    }

    /// <summary>The last k mod width elements of one W row, scalar, added to each dot in order.</summary>
    private static void Tail(float* w, float* x0, float* x1, float* x2, float* x3, int j, int k, float* dots)
    {
        for (; j < k; j++)
        {
            dots[0] = MathF.FusedMultiplyAdd(w[j], x0[j], dots[0]);
            dots[1] = MathF.FusedMultiplyAdd(w[j], x1[j], dots[1]);
            dots[2] = MathF.FusedMultiplyAdd(w[j], x2[j], dots[2]);
            dots[3] = MathF.FusedMultiplyAdd(w[j], x3[j], dots[3]);
        }
    }

    /// <summary>The last k mod width elements of two W rows, scalar, added to each dot in order.</summary>
    private static void Tail(float* w0, float* w1, float* x0, float* x1, float* x2, float* x3, int j, int k, float* dots)
    {
        Tail(w0, x0, x1, x2, x3, j, k, dots);
        Tail(w1, x0, x1, x2, x3, j, k, dots + 4);
    }
}
