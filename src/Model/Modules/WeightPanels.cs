using System.Runtime.InteropServices;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// A weight's copy in <see cref="PanelLinear"/>'s layout, kept by whoever owns the weight (a merged-route cache, a dense
/// layer, the vocabulary bank) and built on the first small-batch product that uses it, so only weights that decode
/// steps and other small batches read pay for it: a second copy of their bytes (MoE-B: 340 MB for the weights a decode step reads), in
/// exchange for not transposing each panel again at every call (docs/benchmarks.md, "Panel linears").
/// Invariants: the copy is of the weight it was built from (same address, same shape); <see cref="Get"/> given any other
/// weight builds it again from that one. The owner must <see cref="Reset"/> it when it changes the weight's values in
/// place (training) and dispose it with the weight. Thread-safe: concurrent first users build it once.
/// </summary>
public sealed unsafe class WeightPanels : IDisposable
{
    private readonly object gate = new();
    private float* data;
    private IntPtr source;
    private long rows, columns;

    /// <summary>The panels that the next small product on the same thread read, the last time these were read: in a
    /// decode step, the layer's next linear (a hint only; a wrong one costs a wasted read-ahead).</summary>
    private WeightPanels? successor;

    /// <summary>The panels the last small product on this thread read (a thread keeps at most these alive; the next
    /// panels it reads replace them).</summary>
    [ThreadStatic] private static WeightPanels? lastRead;

    /// <summary>Bytes held (0 until first used).</summary>
    public long Bytes { get; private set; }

    /// <summary>The panels of the weight at <paramref name="weight"/> ([N, K] float32, contiguous, CPU), built now if
    /// they are not, or if they were built from another weight.</summary>
    internal float* Get(float* weight, int n, int k)
    {
        var origin = (IntPtr)weight;
        if (Volatile.Read(ref source) == origin && rows == n && columns == k) return data;
        lock (gate)
        {
            if (source != origin || rows != n || columns != k) Build(weight, n, k);
            return data;
        }
    }

    /// <summary>The panels of the weight at <paramref name="weight"/> if they are built, otherwise null (nothing is built).</summary>
    internal float* Find(float* weight, int n, int k) =>
        Volatile.Read(ref source) == (IntPtr)weight && rows == n && columns == k ? data : null;

    /// <summary>Called after a small product has read these panels: records them as the successor of the panels this
    /// thread read before, and asks an idle kernel worker to read ahead their own successor, the panels this thread
    /// will most likely read next (<see cref="KernelThreads.ReadAhead"/>).</summary>
    internal void AfterRead()
    {
        if (lastRead is { } previous && previous != this) previous.successor = this;
        lastRead = this;
        if (successor is { } next && next.data is var ahead && ahead != null) KernelThreads.ReadAhead((nint)ahead, next.Bytes);
    }

    /// <summary>Forgets the copy (the weight's values changed); the next product builds it again.</summary>
    public void Reset()
    {
        lock (gate) Free();
    }

    public void Dispose()
    {
        Reset();
        GC.SuppressFinalize(this);
    }

    ~WeightPanels() => Free();

    private void Build(float* w, int n, int k)
    {
        Free();
        int count = (n + PanelLinear.Width - 1) / PanelLinear.Width;
        long floats = (long)count * k * PanelLinear.Width;
        var built = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        for (int p = 0; p < count; p++) PanelLinear.Pack(w, n, k, p, built + (long)p * k * PanelLinear.Width);
        data = built;
        rows = n;
        columns = k;
        Bytes = floats * sizeof(float);
        Volatile.Write(ref source, (IntPtr)w);   // published last: a reader that sees it sees the data
    }

    private void Free()
    {
        Volatile.Write(ref source, IntPtr.Zero);
        NativeMemory.AlignedFree(data);
        data = null;
        rows = columns = 0;
        Bytes = 0;
    }
}
