using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for float32 inference products on a CPU with 512-bit vectors, with W read
/// as <b>panels</b>: 32 consecutive output columns (W rows) transposed, so that panel p holds W[32p + c, j] at
/// [j·32 + c]. For each k the kernel loads two vectors of the panel (32 outputs) and broadcasts one x value per row:
/// 8 rows × 32 outputs = 16 accumulators in registers, sixteen fused multiply-adds for two vector loads and eight
/// broadcasts, and no horizontal sums (the dot-product kernel, <see cref="RowStreamingLinear"/>, summed every
/// accumulator across lanes at the end of each row and was bound by that and by reading x from L2). Measured over
/// MoE-B's 48 encoder linears, 2 threads (docs/benchmarks.md, "Panel linears"): 16 rows 19 → 12 ms, 32 rows 29 → 18 ms,
/// 64 rows 50 → 33 ms (330 GFLOP/s; the cores' multiply-add peak, measured since, is 385–478), 4 rows 7.3–8.0 →
/// 6.4–6.9 ms; against libtorch's MKL (which took over past 128 rows), 197 rows 249–293 → 120–124 ms, 768 rows
/// 835–853 → 420–437 ms.
/// The panels come from a <see cref="WeightPanels"/> that the weight's owner keeps (built once, on first use), or,
/// without one, each thread transposes the panel it needs into a buffer of its own before using it; both give the
/// same bits.
/// Invariants: every output element is one chain of fused multiply-adds over k = 0, 1, … K − 1 from zero, then + bias,
/// whatever the row count, the row's position in its block, the thread count, the split of panels between threads,
/// whether the panels were prebuilt and whether the chain ran in chunks of k (its sum carried in memory, exactly); so
/// results are deterministic and row-independent (a row gets the same bits alone or in a batch). They differ from
/// libtorch's in the last bits (summation order).
/// </summary>
internal static unsafe class PanelLinear
{
    /// <summary>Outputs per panel: two 512-bit vectors.</summary>
    public const int Width = 32;

    /// <summary>Below this many multiply-adds one thread does the whole product (a hand-off costs more).</summary>
    private const long ParallelMinWork = 1 << 18;

    /// <summary>Whether this machine has the vector units the kernel is written for (AVX-512F).</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Writes y = x·Wᵀ + b for <paramref name="rows"/> rows: x holds rows × K float32 and y rows × N float32,
    /// both contiguous; weight [N, K] float32 contiguous; bias [N] or null; <paramref name="panels"/> the weight's
    /// prebuilt panels or null (transposed here, per panel).</summary>
    public static void Compute(Tensor x, Tensor weight, Tensor? bias, Tensor y, int rows, WeightPanels? panels)
    {
        int n = (int)weight.size(0), k = (int)weight.size(1);
        float* w = TensorMemory.Floats(weight);
        // Small products build the owner's panels and read ahead what follows them; large ones only read the panels
        // if present (they amortise a transpose).
        bool small = rows <= Linears.SmallBatchMaxRows;
        float* packed = panels is null ? null : small ? panels.Get(w, n, k) : panels.Find(w, n, k);
        var job = new Job(TensorMemory.Floats(x), w, packed, bias is null ? null : TensorMemory.Floats(bias), TensorMemory.Floats(y), rows, k, n);
        int count = (n + Width - 1) / Width;
        KernelThreads.Blocks(count, (long)n * k * rows, ParallelMinWork, job.Panels);
        if (small) panels?.AfterRead();
    }

    /// <summary>Panel <paramref name="p"/> of W [n, k] into <paramref name="panel"/> (k·32 floats): [j·32 + c] = W[32p + c, j],
    /// zero for columns past n.</summary>
    public static void Pack(float* w, int n, int k, int p, float* panel)
    {
        int first = p * Width, valid = Math.Min(Width, n - first);
        int j = 0;
        if (valid == Width)
        {
            for (; j + 16 <= k; j += 16)
            {
                Transpose16(w + (long)first * k + j, k, panel + (long)j * Width);
                Transpose16(w + (long)(first + 16) * k + j, k, panel + (long)j * Width + 16);
            }
        }
        for (; j < k; j++)
            for (int c = 0; c < Width; c++)
                panel[(long)j * Width + c] = c < valid ? w[(long)(first + c) * k + j] : 0f;
    }

    /// <summary>A 16×16 block: rows src, src + k, … (16 floats each) → columns, each stored 32 floats apart from the last.</summary>
    private static void Transpose16(float* src, int k, float* dst)
    {
        var r0 = Vector512.Load(src); var r1 = Vector512.Load(src + k); var r2 = Vector512.Load(src + 2 * k); var r3 = Vector512.Load(src + 3 * k);
        var r4 = Vector512.Load(src + 4 * k); var r5 = Vector512.Load(src + 5 * k); var r6 = Vector512.Load(src + 6 * k); var r7 = Vector512.Load(src + 7 * k);
        var r8 = Vector512.Load(src + 8 * k); var r9 = Vector512.Load(src + 9 * k); var r10 = Vector512.Load(src + 10 * k); var r11 = Vector512.Load(src + 11 * k);
        var r12 = Vector512.Load(src + 12 * k); var r13 = Vector512.Load(src + 13 * k); var r14 = Vector512.Load(src + 14 * k); var r15 = Vector512.Load(src + 15 * k);
        // 32-bit interleave of row pairs, then 64-bit, then 128-bit lanes twice: the standard 4-stage transpose.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        r0 = Avx512F.Shuffle(t0, t2, 0x44); r1 = Avx512F.Shuffle(t0, t2, 0xEE);
        r2 = Avx512F.Shuffle(t1, t3, 0x44); r3 = Avx512F.Shuffle(t1, t3, 0xEE);
        r4 = Avx512F.Shuffle(t4, t6, 0x44); r5 = Avx512F.Shuffle(t4, t6, 0xEE);
        r6 = Avx512F.Shuffle(t5, t7, 0x44); r7 = Avx512F.Shuffle(t5, t7, 0xEE);
        r8 = Avx512F.Shuffle(t8, t10, 0x44); r9 = Avx512F.Shuffle(t8, t10, 0xEE);
        r10 = Avx512F.Shuffle(t9, t11, 0x44); r11 = Avx512F.Shuffle(t9, t11, 0xEE);
        r12 = Avx512F.Shuffle(t12, t14, 0x44); r13 = Avx512F.Shuffle(t12, t14, 0xEE);
        r14 = Avx512F.Shuffle(t13, t15, 0x44); r15 = Avx512F.Shuffle(t13, t15, 0xEE);
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
        Avx512F.Shuffle4x128(t0, t8, 0x88).Store(dst);
        Avx512F.Shuffle4x128(t1, t9, 0x88).Store(dst + Width);
        Avx512F.Shuffle4x128(t2, t10, 0x88).Store(dst + 2 * Width);
        Avx512F.Shuffle4x128(t3, t11, 0x88).Store(dst + 3 * Width);
        Avx512F.Shuffle4x128(t4, t12, 0x88).Store(dst + 4 * Width);
        Avx512F.Shuffle4x128(t5, t13, 0x88).Store(dst + 5 * Width);
        Avx512F.Shuffle4x128(t6, t14, 0x88).Store(dst + 6 * Width);
        Avx512F.Shuffle4x128(t7, t15, 0x88).Store(dst + 7 * Width);
        Avx512F.Shuffle4x128(t0, t8, 0xDD).Store(dst + 8 * Width);
        Avx512F.Shuffle4x128(t1, t9, 0xDD).Store(dst + 9 * Width);
        Avx512F.Shuffle4x128(t2, t10, 0xDD).Store(dst + 10 * Width);
        Avx512F.Shuffle4x128(t3, t11, 0xDD).Store(dst + 11 * Width);
        Avx512F.Shuffle4x128(t4, t12, 0xDD).Store(dst + 12 * Width);
        Avx512F.Shuffle4x128(t5, t13, 0xDD).Store(dst + 13 * Width);
        Avx512F.Shuffle4x128(t6, t14, 0xDD).Store(dst + 14 * Width);
        Avx512F.Shuffle4x128(t7, t15, 0xDD).Store(dst + 15 * Width);
    }

    /// <summary>A thread's buffer for one panel transposed on the fly (grown to the largest K seen; never freed: one
    /// per kernel thread, at most K·128 bytes).</summary>
    [ThreadStatic] private static float* scratch;
    [ThreadStatic] private static int scratchK;

    private static float* Scratch(int k)
    {
        if (scratchK < k)
        {
            NativeMemory.AlignedFree(scratch);
            scratch = (float*)NativeMemory.AlignedAlloc((nuint)k * Width * sizeof(float), 64);
            scratchK = k;
        }
        return scratch;
    }

    /// <summary>k steps per chunk of <see cref="Job.Chunked"/>: 96 KB of a panel. Decodes at B = 8 on MoE-B, interleaved with
    /// 384 and 1,536, were fastest at 768 (docs/benchmarks.md, "Batched decode at the multiply-add roof").</summary>
    private const int ChunkSteps = 768;

    /// <summary>A thread's running sums for <see cref="Job.Chunked"/>: 32 floats per row, rows rounded up to a block of
    /// eight (grown to the most rows seen; never freed: at most 16 KB per kernel thread).</summary>
    [ThreadStatic] private static float* partials;
    [ThreadStatic] private static int partialRows;

    private static float* Partials(int m)
    {
        int rows = (m + 7) / 8 * 8;
        if (partialRows < rows)
        {
            NativeMemory.AlignedFree(partials);
            partials = (float*)NativeMemory.AlignedAlloc((nuint)rows * Width * sizeof(float), 64);
            partialRows = rows;
        }
        return partials;
    }

    /// <summary>One product's operands; <see cref="Panels"/> computes panels [p0, p1) (output columns 32·p0 …) of every row.</summary>
    private readonly struct Job(float* x, float* w, float* packed, float* b, float* y, int m, int k, int n)
    {
        public void Panels(int p0, int p1)
        {
            if (packed != null && m > 8 && m <= Linears.SmallBatchMaxRows)
            {
                Chunked(p0, p1);
                return;
            }
            var sums = stackalloc float[8 * Width];   // a block's results, on their way to y
            for (int p = p0; p < p1; p++)
            {
                float* panel;
                if (packed != null) panel = packed + (long)p * k * Width;
                else
                {
                    panel = Scratch(k);
                    Pack(w, n, k, p, panel);
                }
                int first = p * Width, valid = Math.Min(Width, n - first);
                for (int i = 0; i < m; i += 8)
                {
                    int rows = Math.Min(8, m - i);
                    if (rows <= 4)
                    {
                        Block4(i, rows, panel, first, valid, sums);
                        continue;
                    }
                    // The first block streams the panel from memory; the next ones find it in L2.
                    Block8(i, rows, panel, 0, k, sums, i == 0 ? panel : null, null);
                    for (int r = 0; r < rows; r++) Store(i + r, sums + r * Width, first, valid);
                }
            }
        }

        /// <summary>
        /// Panels [p0, p1) of prebuilt panels for 9 to <see cref="Linears.SmallBatchMaxRows"/> rows (a batched decode
        /// step), in chunks of <see cref="ChunkSteps"/> k steps: every block of eight rows runs over a chunk while it sits
        /// in L2, carrying its sums in memory from chunk to chunk, and blocks 0 and 1 prefetch the next chunk (the next
        /// panel's first after a panel's last) a line per k step. Memory then streams while all blocks compute, instead of
        /// only while block 0 does (block 0 alone asks for more than memory gives, and the later blocks leave it idle).
        /// </summary>
        private void Chunked(int p0, int p1)
        {
            float* partial = Partials(m);
            int chunk = Math.Min(ChunkSteps, k);
            for (int p = p0; p < p1; p++)
            {
                float* panel = packed + (long)p * k * Width;
                for (int k0 = 0; k0 < k; k0 += chunk)
                {
                    int k1 = Math.Min(k, k0 + chunk);
                    bool next = k1 < k || p + 1 < p1;
                    for (int i = 0; i < m; i += 8)
                    {
                        int block = i / 8;
                        // The thread's first chunk has nobody before it to prefetch it: block 0 streams it.
                        float* stream = p == p0 && k0 == 0 && block == 0 ? panel : null;
                        // Line l of the next chunk (two lines a k step) is prefetched by block l / chunk at its step l % chunk.
                        float* ahead = next && block < 2 ? panel + (long)k1 * Width + ((long)block * chunk - k0) * (Width / 2) : null;
                        Block8(i, Math.Min(8, m - i), panel, k0, k1, partial + (long)i * Width, stream, ahead);
                    }
                }
                int first = p * Width, valid = Math.Min(Width, n - first);
                for (int r = 0; r < m; r++) Store(r, partial + (long)r * Width, first, valid);
            }
        }

        /// <summary>x row i + r, or row i for rows past the block's last (computed and thrown away: one loop shape).</summary>
        private float* Row(int i, int r, int rows) => x + (long)(i + (r < rows ? r : 0)) * k;

        /// <summary>
        /// Rows i … i + 7 against one panel over k steps [k0, k1): continues the sixteen sums held in
        /// <paramref name="partial"/> (eight rows of 32; from zero when k0 is 0) and leaves them there. Each k step loads two
        /// vectors of the panel and broadcasts one x value per row: sixteen fused multiply-adds for two loads and eight
        /// broadcasts. <paramref name="stream"/>, if given, is the panel this block reads from memory (prefetched
        /// <see cref="PrefetchFloats"/> ahead); <paramref name="ahead"/>, if given, a line to prefetch per k step j at
        /// ahead + 16·j. The loop issues two prefetches every k step whatever was asked (with nothing to fetch, the
        /// step's own lines): with a branch per prefetch the JIT ran short of registers and moved the loop's pointers
        /// to the stack and back every step (docs/benchmarks.md, "Batched decode at the multiply-add roof": products
        /// 8–25 % faster without the branches).
        /// </summary>
        private void Block8(int i, int rows, float* panel, int k0, int k1, float* partial, float* stream, float* ahead)
        {
            float* x0 = Row(i, 0, rows), x1 = Row(i, 1, rows), x2 = Row(i, 2, rows), x3 = Row(i, 3, rows);
            float* x4 = Row(i, 4, rows), x5 = Row(i, 5, rows), x6 = Row(i, 6, rows), x7 = Row(i, 7, rows);
            Vector512<float> a0, a1, a2, a3, a4, a5, a6, a7, c0, c1, c2, c3, c4, c5, c6, c7;
            if (k0 == 0)
            {
                a0 = Vector512<float>.Zero; a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0; a6 = a0; a7 = a0;
                c0 = a0; c1 = a0; c2 = a0; c3 = a0; c4 = a0; c5 = a0; c6 = a0; c7 = a0;
            }
            else
            {
                a0 = Vector512.Load(partial); c0 = Vector512.Load(partial + 16); a1 = Vector512.Load(partial + 32); c1 = Vector512.Load(partial + 48);
                a2 = Vector512.Load(partial + 64); c2 = Vector512.Load(partial + 80); a3 = Vector512.Load(partial + 96); c3 = Vector512.Load(partial + 112);
                a4 = Vector512.Load(partial + 128); c4 = Vector512.Load(partial + 144); a5 = Vector512.Load(partial + 160); c5 = Vector512.Load(partial + 176);
                a6 = Vector512.Load(partial + 192); c6 = Vector512.Load(partial + 208); a7 = Vector512.Load(partial + 224); c7 = Vector512.Load(partial + 240);
            }
            // Two prefetches a k step (no branch in the loop; a line already in L1 costs a load slot): the streamed panel's
            // two lines; the next chunk's line and, if streaming too, the streamed panel's first line; or the step's own.
            float* pa, pb;
            long sa = Width, sb = Width;
            if (ahead != null)
            {
                pa = ahead + (long)k0 * (Width / 2);
                sa = Width / 2;
                pb = stream != null ? stream + (long)k0 * Width + PrefetchFloats : panel + (long)k0 * Width;
            }
            else if (stream != null)
            {
                pa = stream + (long)k0 * Width + PrefetchFloats;
                pb = pa + 16;
            }
            else pa = pb = panel + (long)k0 * Width;
            for (int j = k0; j < k1; j++, pa += sa, pb += sb)
            {
                Sse.Prefetch0(pa);
                Sse.Prefetch0(pb);
                var u = Vector512.Load(panel + (long)j * Width);
                var v = Vector512.Load(panel + (long)j * Width + 16);
                var e = Vector512.Create(x0[j]); a0 = Vector512.FusedMultiplyAdd(u, e, a0); c0 = Vector512.FusedMultiplyAdd(v, e, c0);
                e = Vector512.Create(x1[j]); a1 = Vector512.FusedMultiplyAdd(u, e, a1); c1 = Vector512.FusedMultiplyAdd(v, e, c1);
                e = Vector512.Create(x2[j]); a2 = Vector512.FusedMultiplyAdd(u, e, a2); c2 = Vector512.FusedMultiplyAdd(v, e, c2);
                e = Vector512.Create(x3[j]); a3 = Vector512.FusedMultiplyAdd(u, e, a3); c3 = Vector512.FusedMultiplyAdd(v, e, c3);
                e = Vector512.Create(x4[j]); a4 = Vector512.FusedMultiplyAdd(u, e, a4); c4 = Vector512.FusedMultiplyAdd(v, e, c4);
                e = Vector512.Create(x5[j]); a5 = Vector512.FusedMultiplyAdd(u, e, a5); c5 = Vector512.FusedMultiplyAdd(v, e, c5);
                e = Vector512.Create(x6[j]); a6 = Vector512.FusedMultiplyAdd(u, e, a6); c6 = Vector512.FusedMultiplyAdd(v, e, c6);
                e = Vector512.Create(x7[j]); a7 = Vector512.FusedMultiplyAdd(u, e, a7); c7 = Vector512.FusedMultiplyAdd(v, e, c7);
            }
            // Straight to memory, no call in between: accumulators live across a call are spilled inside the loop
            // by the JIT without PGO (what upmoe runs with), which made this loop 1.8x slower.
            a0.Store(partial); c0.Store(partial + 16); a1.Store(partial + 32); c1.Store(partial + 48);
            a2.Store(partial + 64); c2.Store(partial + 80); a3.Store(partial + 96); c3.Store(partial + 112);
            a4.Store(partial + 128); c4.Store(partial + 144); a5.Store(partial + 160); c5.Store(partial + 176);
            a6.Store(partial + 192); c6.Store(partial + 208); a7.Store(partial + 224); c7.Store(partial + 240);
        }

        /// <summary>At most four rows (a beam-2 decode step): eight accumulators, half the broadcasts of <see cref="Block8"/>.</summary>
        private void Block4(int i, int rows, float* panel, int first, int valid, float* sums)
        {
            float* x0 = Row(i, 0, rows), x1 = Row(i, 1, rows), x2 = Row(i, 2, rows), x3 = Row(i, 3, rows);
            var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            var c0 = a0; var c1 = a0; var c2 = a0; var c3 = a0;
            for (int j = 0; j < k; j++)
            {
                Prefetch(panel + (long)j * Width);
                var u = Vector512.Load(panel + (long)j * Width);
                var v = Vector512.Load(panel + (long)j * Width + 16);
                var e = Vector512.Create(x0[j]); a0 = Vector512.FusedMultiplyAdd(u, e, a0); c0 = Vector512.FusedMultiplyAdd(v, e, c0);
                e = Vector512.Create(x1[j]); a1 = Vector512.FusedMultiplyAdd(u, e, a1); c1 = Vector512.FusedMultiplyAdd(v, e, c1);
                e = Vector512.Create(x2[j]); a2 = Vector512.FusedMultiplyAdd(u, e, a2); c2 = Vector512.FusedMultiplyAdd(v, e, c2);
                e = Vector512.Create(x3[j]); a3 = Vector512.FusedMultiplyAdd(u, e, a3); c3 = Vector512.FusedMultiplyAdd(v, e, c3);
            }
            a0.Store(sums); c0.Store(sums + 16); a1.Store(sums + 32); c1.Store(sums + 48);
            a2.Store(sums + 64); c2.Store(sums + 80); a3.Store(sums + 96); c3.Store(sums + 112);
            for (int r = 0; r < rows; r++) Store(i + r, sums + r * Width, first, valid);
        }

        /// <summary>y[row, first .. first + valid) = sums[0 .. valid) + bias.</summary>
        private void Store(int row, float* sums, int first, int valid)
        {
            float* yr = y + (long)row * n + first;
            if (valid == Width)
            {
                var low = Vector512.Load(sums);
                var high = Vector512.Load(sums + 16);
                if (b != null)
                {
                    low += Vector512.Load(b + first);
                    high += Vector512.Load(b + first + 16);
                }
                low.Store(yr);
                high.Store(yr + 16);
                return;
            }
            for (int c = 0; c < valid; c++) yr[c] = b != null ? sums[c] + b[first + c] : sums[c];
        }
    }

    /// <summary>How far ahead the kernel asks for the panel: 4 KB (of 1, 2, 4 and 8 KB, the best in the decode loop on the
    /// 2-core machine; without it four rows read W more slowly than the dot-product kernel did).</summary>
    private const int PrefetchFloats = 1024;

    /// <summary>Prefetches the two cache lines of one k step of a panel <see cref="PrefetchFloats"/> ahead (a prefetch never
    /// faults, so reading past the panels' end is harmless).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(float* at)
    {
        Sse.Prefetch0(at + PrefetchFloats);
        Sse.Prefetch0(at + PrefetchFloats + 16);
    }
}
