using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Preallocated per-layer key/value buffers [R, H, Capacity, hd] for incremental decoding: slots [0, Length) hold the
/// tokens attended to so far; a pass with a cache writes its n tokens' keys/values to [Length, Length + n) and attends
/// to [0, Length + n) (what tokens may see among the current ones is the pass's key bias). The pass does not advance
/// <see cref="Length"/>: the caller decides which of the written slots stay. Owns its buffers.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly LayerKv[] layers;

    public KvCache(int layerCount, long rows, int heads, int capacity, int headDim, Device device)
    {
        layers = new LayerKv[layerCount];
        for (int l = 0; l < layerCount; l++)
            layers[l] = new LayerKv(Buffer(rows, heads, capacity, headDim, device), Buffer(rows, heads, capacity, headDim, device));
        Capacity = capacity;
    }

    public int Capacity { get; }

    /// <summary>The cache outlives the dispose scope it may be created in: it releases its buffers itself.</summary>
    private static Tensor Buffer(long rows, int heads, int capacity, int headDim, Device device) =>
        empty(rows, heads, capacity, headDim, device: device).DetachFromDisposeScope();

    /// <summary>Slots holding kept tokens; a pass appends after them.</summary>
    public int Length { get; set; }

    public LayerKv this[int layer] => layers[layer];

    public int LayerCount => layers.Length;

    public void Dispose()
    {
        foreach (var kv in layers) kv.Dispose();
    }
}
