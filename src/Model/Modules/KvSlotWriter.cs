using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Writes a pass's keys or values [R, H, n, hd] into a <see cref="KvCache"/>'s word slots [R, H, capacity, hd] at slot
/// <c>at</c> on the CPU: one copy of hd floats per (row, head, token). libtorch's <c>copy_</c> into the slots' strided
/// view cost 30–40 µs a tensor on the decoding thread (two per layer per pass), for a few KB of floats.
/// Invariant: the same values land in the same slots as <c>slots.narrow(2, at, n).copy_(source)</c> (a copy is exact).
/// </summary>
internal static unsafe class KvSlotWriter
{
    /// <summary>Whether <see cref="Write"/> copies <paramref name="source"/> into <paramref name="slots"/>: both CPU float32,
    /// 4-d with unit stride in the last dimension, the same rows, heads and head size, and no autograd.</summary>
    public static bool Handles(Tensor source, Tensor slots) =>
        source.dim() == 4 && slots.dim() == 4
        && source.device_type == TorchSharp.DeviceType.CPU && slots.device_type == TorchSharp.DeviceType.CPU
        && source.dtype == ScalarType.Float32 && slots.dtype == ScalarType.Float32
        && source.stride(3) == 1 && slots.stride(3) == 1
        && source.size(0) == slots.size(0) && source.size(1) == slots.size(1) && source.size(3) == slots.size(3)
        && !(is_grad_enabled() && source.requires_grad);

    /// <summary>slots[:, :, at + t] = source[:, :, t] for t &lt; n (the caller checked that the slots hold them).</summary>
    public static void Write(Tensor source, Tensor slots, int at)
    {
        int rows = (int)source.size(0), heads = (int)source.size(1), n = (int)source.size(2), hd = (int)source.size(3);
        var from = StridedView.Of(source);
        var to = StridedView.Of(slots);
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                Write(from, to, r, h, n, hd, at);
    }

    /// <summary>One (row, head) of <see cref="Write"/>: slots[row, head, at + t] = source[row, head, t] for t &lt; n
    /// (<see cref="SharedPrefixAttention"/> writes each unit's slots on the thread that then reads them).</summary>
    public static void Write(StridedView source, StridedView slots, int row, int head, int n, int hd, int at)
    {
        long bytes = (long)hd * sizeof(float);
        for (int t = 0; t < n; t++)
            Buffer.MemoryCopy(source.At(row, head, t), slots.At(row, head, at + t), bytes, bytes);
    }
}
