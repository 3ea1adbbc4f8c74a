using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>A 4-d float tensor's storage pointer (at its offset) and its first three element strides, for the CPU
/// attention kernels; the default value is absent (null pointer). Valid only while the tensor lives; the kernels
/// require unit stride in the last dimension.</summary>
internal readonly unsafe struct StridedView(float* data, long s0, long s1, long s2)
{
    public static StridedView Of(Tensor t)
    {
        // Strides may be 0 (broadcast) or larger than the shape (a narrowed cache).
        float* origin = (float*)t.storage<float>().data_ptr() + t.storage_offset();
        return new StridedView(origin, t.stride(0), t.stride(1), t.stride(2));
    }

    public bool Present => data != null;

    /// <summary>Elements from one key (or value) to the next.</summary>
    public long KeyStride => s2;

    public float* At(long i0, long i1, long i2) => data + i0 * s0 + i1 * s1 + i2 * s2;
}
