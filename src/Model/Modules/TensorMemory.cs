using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>Raw float32 memory of tensors for the hand-written CPU kernels. Valid only while the tensor lives.</summary>
internal static unsafe class TensorMemory
{
    /// <summary>The first element of a contiguous float32 tensor (where its view starts).</summary>
    public static float* Floats(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
}
