using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for a few rows of x (a decode step, a small batch of decode steps), on the CPU, streaming each weight
/// row once from memory while the x rows stay in L1/L2. Up to four rows of x (a beam-2 decode step) would be
/// memory-bound if the loop kept up with memory: each thread takes four W rows a quarter of its range apart against
/// the x rows, sixteen dot products in registers, and prefetches each W row 1 KB ahead, so four streams are in flight
/// per core and eight loads feed sixteen fused multiply-adds (one W row at a time needed five loads per four, and the
/// loop, not memory, was the limit: 14 GB/s of W per core with W in cache; MoE-B's 48 linears at 4 rows went from
/// 9.7–10.3 ms to 7.4–8.2 ms, against 4.7–5.8 ms to only read their 340 MB: docs/benchmarks.md). More rows are
/// compute-bound: with 512-bit vectors four consecutive W rows at a time against each block of four x rows, otherwise
/// two W rows (six loads, eight multiply-adds), so the loop is bound by the FMA units rather than by loads (at 16 rows
/// one W row 35 ms, two 26–31 ms, four 25–28 ms). libtorch's GEMM packs W into a buffer at every call when x has few
/// rows, so it reads W twice and writes it once; here W is read once, which is all a memory-bound step can do.
/// Invariants: every output element is one dot product summed in the same order (lane-wise FMAs over k in steps of
/// the vector width, then a horizontal sum, then the scalar tail) whatever the row count, the blocking, the thread
/// count and the split of W's rows between threads, so results are deterministic and row-independent (a row gets the
/// same bits alone or in a batch). They differ from libtorch's in the last bits (summation order), and between
/// machines with and without 512-bit vectors (lane count).
/// </summary>
internal static unsafe class RowStreamingLinear
{
    /// <summary>Below this many multiply-adds one thread does the whole product (a hand-off costs more).</summary>
    private const long ParallelMinWork = 1 << 18;

    /// <summary>Whether this machine has the vector units the kernel is written for.</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated;

    /// <summary>Writes y = x·Wᵀ + b for <paramref name="rows"/> rows: x holds rows × K float32 and y rows × N float32,
    /// both contiguous whatever their shapes ([..., K] and [..., N]); weight [N, K] float32 contiguous; bias [N] or null.</summary>
    public static void Compute(Tensor x, Tensor weight, Tensor? bias, Tensor y, int rows)
    {
        int k = (int)weight.shape[1], n = (int)weight.shape[0];
        var job = new Job(Pointer(x), Pointer(weight), bias is null ? null : Pointer(bias), Pointer(y), rows, k, n);
        int threads = Math.Min(get_num_threads(), Environment.ProcessorCount);
        if (threads <= 1 || (long)n * k * rows < ParallelMinWork)
        {
            job.Rows(0, n);
            return;
        }
        // Contiguous blocks of W's rows (a multiple of four, so quads and pairs never straddle threads), one per thread; the caller
        // computes one of them.
        int block = ((n + threads - 1) / threads + 3) & ~3;
        KernelThreads.For(threads, part => job.Rows(Math.Min(n, part * block), Math.Min(n, (part + 1) * block)));
    }

    private static float* Pointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>One product's operands; <see cref="Rows"/> computes output columns [n0, n1) of every row.</summary>
    private readonly struct Job(float* x, float* w, float* b, float* y, int m, int k, int n)
    {
        public void Rows(int n0, int n1)
        {
            var dots = stackalloc float[16];
            if (m <= 4)
            {
                int r = n0;
                if (Vector512.IsHardwareAccelerated)
                {
                    // Four W rows a quarter of the range apart, each prefetched ahead: four streams from memory at
                    // once, and half the loads per multiply-add of one W row at a time (docs/benchmarks.md: MoE-B's
                    // 48 linears at 4 rows, 9.7–10.3 ms → 7.4–8.2 ms).
                    int quarter = (n1 - n0) / 4;
                    for (; r < n0 + quarter; r++) Spread(r, quarter, dots);
                    r = n0 + 4 * quarter;
                }
                for (; r < n1; r++) Single(r, dots);
                return;
            }
            int p = n0;
            if (Vector512.IsHardwareAccelerated)
                for (; p + 4 <= n1; p += 4) Quad(p, dots);
            for (; p + 2 <= n1; p += 2) Pair(p, p + 1, dots);
            // An odd last row pairs with itself: computed twice, stored once, so the loop keeps one shape.
            if (p < n1) Pair(p, p, dots);
        }

        /// <summary>Column <paramref name="r"/> of the (at most four) rows.</summary>
        private void Single(int r, float* dots)
        {
            Block(0, out float* x0, out float* x1, out float* x2, out float* x3);
            if (Vector512.IsHardwareAccelerated) Dot512(w + (long)r * k, x0, x1, x2, x3, k, dots);
            else Dot256(w + (long)r * k, x0, x1, x2, x3, k, dots);
            Store(0, m, r, dots);
        }

        private void Pair(int r0, int r1, float* dots)
        {
            float* w0 = w + (long)r0 * k, w1 = w + (long)r1 * k;
            for (int i = 0; i < m; i += 4)
            {
                int rows = Block(i, out float* x0, out float* x1, out float* x2, out float* x3);
                if (Vector512.IsHardwareAccelerated) Dot512(w0, w1, x0, x1, x2, x3, k, dots);
                else Dot256(w0, w1, x0, x1, x2, x3, k, dots);
                Store(i, rows, r0, dots);
                if (r1 != r0) Store(i, rows, r1, dots + 4);
            }
        }

        /// <summary>Columns <paramref name="r"/> … r + 3 of every row: four W rows against each block of four x rows.</summary>
        private void Quad(int r, float* dots)
        {
            float* w0 = w + (long)r * k;
            for (int i = 0; i < m; i += 4)
            {
                int rows = Block(i, out float* x0, out float* x1, out float* x2, out float* x3);
                Dot512x4<NoPrefetch>(w0, k, k, x0, x1, x2, x3, dots);
                for (int c = 0; c < 4; c++) Store(i, rows, r + c, dots + 4 * c);
            }
        }

        /// <summary>Columns r, r + <paramref name="gap"/>, r + 2·gap, r + 3·gap of the (at most four) rows.</summary>
        private void Spread(int r, int gap, float* dots)
        {
            int rows = Block(0, out float* x0, out float* x1, out float* x2, out float* x3);
            Dot512x4<PrefetchAhead>(w + (long)r * k, k, (long)gap * k, x0, x1, x2, x3, dots);
            for (int c = 0; c < 4; c++) Store(0, rows, r + c * gap, dots + 4 * c);
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
    private static void Dot512(float* w, float* x0, float* x1, float* x2, float* x3, int k, float* dots)
    {
        var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var u = Vector512.Load(w + j);
            a0 = Vector512.FusedMultiplyAdd(u, Vector512.Load(x0 + j), a0);
            a1 = Vector512.FusedMultiplyAdd(u, Vector512.Load(x1 + j), a1);
            a2 = Vector512.FusedMultiplyAdd(u, Vector512.Load(x2 + j), a2);
            a3 = Vector512.FusedMultiplyAdd(u, Vector512.Load(x3 + j), a3);
        }
        dots[0] = Vector512.Sum(a0); dots[1] = Vector512.Sum(a1); dots[2] = Vector512.Sum(a2); dots[3] = Vector512.Sum(a3);
        Tail(w, x0, x1, x2, x3, j, k, dots);
    }

    /// <summary><see cref="Dot512(float*, float*, float*, float*, float*, int, float*)"/> with 256-bit vectors.</summary>
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
    private static void Dot512(float* w0, float* w1, float* x0, float* x1, float* x2, float* x3, int k, float* dots)
    {
        var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var c0 = a0; var c1 = a0; var c2 = a0; var c3 = a0;
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var u = Vector512.Load(w0 + j);
            var v = Vector512.Load(w1 + j);
            var e = Vector512.Load(x0 + j);
            a0 = Vector512.FusedMultiplyAdd(u, e, a0);
            c0 = Vector512.FusedMultiplyAdd(v, e, c0);
            e = Vector512.Load(x1 + j);
            a1 = Vector512.FusedMultiplyAdd(u, e, a1);
            c1 = Vector512.FusedMultiplyAdd(v, e, c1);
            e = Vector512.Load(x2 + j);
            a2 = Vector512.FusedMultiplyAdd(u, e, a2);
            c2 = Vector512.FusedMultiplyAdd(v, e, c2);
            e = Vector512.Load(x3 + j);
            a3 = Vector512.FusedMultiplyAdd(u, e, a3);
            c3 = Vector512.FusedMultiplyAdd(v, e, c3);
        }
        dots[0] = Vector512.Sum(a0); dots[1] = Vector512.Sum(a1); dots[2] = Vector512.Sum(a2); dots[3] = Vector512.Sum(a3);
        dots[4] = Vector512.Sum(c0); dots[5] = Vector512.Sum(c1); dots[6] = Vector512.Sum(c2); dots[7] = Vector512.Sum(c3);
        Tail(w0, w1, x0, x1, x2, x3, j, k, dots);
    }

    /// <summary>dots[4c .. 4c + 4) = w_c·x0..x3 for the four W rows w_c = w0 + c·<paramref name="step"/> (k for consecutive
    /// rows). Sixteen dot products in registers: eight loads feed sixteen fused multiply-adds (the two-row block needs six
    /// for eight), so the x rows, which come from L2 once there are more than a few, are read half as often per
    /// multiply-add.</summary>
    private static void Dot512x4<TPrefetch>(float* w0, int k, long step, float* x0, float* x1, float* x2, float* x3, float* dots)
        where TPrefetch : struct, IPrefetch
    {
        float* w1 = w0 + step, w2 = w1 + step, w3 = w2 + step;
        var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var b0 = a0; var b1 = a0; var b2 = a0; var b3 = a0;
        var c0 = a0; var c1 = a0; var c2 = a0; var c3 = a0;
        var d0 = a0; var d1 = a0; var d2 = a0; var d3 = a0;
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            TPrefetch.Ahead(w0 + j); TPrefetch.Ahead(w1 + j); TPrefetch.Ahead(w2 + j); TPrefetch.Ahead(w3 + j);
            var u0 = Vector512.Load(w0 + j);
            var u1 = Vector512.Load(w1 + j);
            var u2 = Vector512.Load(w2 + j);
            var u3 = Vector512.Load(w3 + j);
            var e = Vector512.Load(x0 + j);
            a0 = Vector512.FusedMultiplyAdd(u0, e, a0);
            b0 = Vector512.FusedMultiplyAdd(u1, e, b0);
            c0 = Vector512.FusedMultiplyAdd(u2, e, c0);
            d0 = Vector512.FusedMultiplyAdd(u3, e, d0);
            e = Vector512.Load(x1 + j);
            a1 = Vector512.FusedMultiplyAdd(u0, e, a1);
            b1 = Vector512.FusedMultiplyAdd(u1, e, b1);
            c1 = Vector512.FusedMultiplyAdd(u2, e, c1);
            d1 = Vector512.FusedMultiplyAdd(u3, e, d1);
            e = Vector512.Load(x2 + j);
            a2 = Vector512.FusedMultiplyAdd(u0, e, a2);
            b2 = Vector512.FusedMultiplyAdd(u1, e, b2);
            c2 = Vector512.FusedMultiplyAdd(u2, e, c2);
            d2 = Vector512.FusedMultiplyAdd(u3, e, d2);
            e = Vector512.Load(x3 + j);
            a3 = Vector512.FusedMultiplyAdd(u0, e, a3);
            b3 = Vector512.FusedMultiplyAdd(u1, e, b3);
            c3 = Vector512.FusedMultiplyAdd(u2, e, c3);
            d3 = Vector512.FusedMultiplyAdd(u3, e, d3);
        }
        dots[0] = Vector512.Sum(a0); dots[1] = Vector512.Sum(a1); dots[2] = Vector512.Sum(a2); dots[3] = Vector512.Sum(a3);
        dots[4] = Vector512.Sum(b0); dots[5] = Vector512.Sum(b1); dots[6] = Vector512.Sum(b2); dots[7] = Vector512.Sum(b3);
        dots[8] = Vector512.Sum(c0); dots[9] = Vector512.Sum(c1); dots[10] = Vector512.Sum(c2); dots[11] = Vector512.Sum(c3);
        dots[12] = Vector512.Sum(d0); dots[13] = Vector512.Sum(d1); dots[14] = Vector512.Sum(d2); dots[15] = Vector512.Sum(d3);
        Tail(w0, x0, x1, x2, x3, j, k, dots);
        Tail(w1, x0, x1, x2, x3, j, k, dots + 4);
        Tail(w2, x0, x1, x2, x3, j, k, dots + 8);
        Tail(w3, x0, x1, x2, x3, j, k, dots + 12);
    }

    /// <summary>Whether a kernel loop asks for the W data it will read next. A type parameter, so the JIT compiles one
    /// loop per policy with the call inlined or gone.</summary>
    private interface IPrefetch
    {
        static abstract void Ahead(float* at);
    }

    private struct NoPrefetch : IPrefetch
    {
        public static void Ahead(float* at) { }
    }

    /// <summary>Prefetches the cache line 1 KB past <paramref name="at"/> (one line per loop step and W row; best of
    /// 0.75, 1, 1.5 and 3 KB on the 2-core machine). A prefetch never faults, so reading past W's end is harmless.</summary>
    private struct PrefetchAhead : IPrefetch
    {
        private const int Floats = 256;

        public static void Ahead(float* at)
        {
            if (Sse.IsSupported) Sse.Prefetch0(at + Floats);
        }
    }

    /// <summary>The two-row <see cref="Dot512(float*, float*, float*, float*, float*, float*, int, float*)"/> with 256-bit vectors.</summary>
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
