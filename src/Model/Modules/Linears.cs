using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// x·Wᵀ + b for every linear of the model (dense, merged MoE, expert groups, the vocabulary bank's scores). A product
/// with at most <see cref="SmallBatchMaxRows"/> rows of x on the CPU (a decode step: beam 2 gives 4 rows, a word and a
/// query per beam; B batched captions give 4·B, so up to 32 captions) reads W once per call. libtorch's <c>linear</c>
/// packs W into a buffer at every such call (MKL's GEMM), so the kernels here compute it instead:
/// <see cref="PanelLinear"/> with 512-bit vectors (W as 32-column panels, prebuilt by the weight's owner as
/// <see cref="WeightPanels"/>), otherwise <see cref="RowStreamingLinear"/>. Measured on the 2-core machine over MoE-B's
/// 48 encoder linears (340 MB of weights, out of cache), 2 torch threads: <c>linear</c> 34 ms at 4 rows and 56–59 ms at
/// 32; the dot-product kernel 7.3–8.0 and 29 ms; the panel kernel 6.4–6.9 and 18 ms, and 33 ms at 64 rows (330 GFLOP/s,
/// the FMA roof) (docs/benchmarks.md, "Panel linears"). Past 128 rows the products are GEMM-sized and stay with
/// libtorch.
/// The choice depends only on the shapes and the machine, never on the thread count or on whether panels were
/// prebuilt, so two processes computing the same rows (an embedded engine, an expert node) get the same bits; within
/// the small range a row gets the same bits alone or in a batch. Autograd (training) and other devices always use
/// <c>linear</c>.
/// </summary>
public static class Linears
{
    /// <summary>Products with 1 to this many rows of x use the weight-streaming kernel.</summary>
    public const int SmallBatchMaxRows = 128;

    /// <summary>x [..., K], weight [N, K], bias [N] or null → [..., N]. <paramref name="panels"/>: the weight's
    /// <see cref="WeightPanels"/> kept by its owner, used by small products (null: each call transposes what it reads;
    /// the bits are the same either way).</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, WeightPanels? panels = null)
    {
        var shape = x.shape.ToArray();         // a copy of our own: its last size is changed below
        if (!Streams(x, shape, weight, bias, out int rows)) return nn.functional.linear(x, weight, bias);
        // One new tensor per call: the kernel reads x's rows and writes y's whatever their leading shape.
        shape[^1] = weight.shape[0];
        var y = empty(shape, dtype: ScalarType.Float32, device: x.device);
        using var packed = x.is_contiguous() ? null : x.contiguous();
        if (PanelLinear.Supported) PanelLinear.Compute(packed ?? x, weight, bias, y, rows, panels);
        else RowStreamingLinear.Compute(packed ?? x, weight, bias, y, rows);
        return y;
    }

    /// <summary>Whether the kernel computes this product; <paramref name="rows"/> is then x's row count.</summary>
    private static bool Streams(Tensor x, long[] shape, Tensor weight, Tensor? bias, out int rows)
    {
        rows = 0;
        long features = shape[^1];
        long elements = x.numel();
        if (features == 0 || elements == 0 || elements / features > SmallBatchMaxRows) return false;
        rows = (int)(elements / features);
        return x.device_type == TorchSharp.DeviceType.CPU && weight.device_type == TorchSharp.DeviceType.CPU
               && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && (bias is null || bias.dtype == ScalarType.Float32)
               && weight.is_contiguous() && (bias is null || bias.is_contiguous())
               && weight.dim() == 2 && weight.shape[1] == features
               && !(is_grad_enabled() && (x.requires_grad || weight.requires_grad || bias?.requires_grad == true))
               && (PanelLinear.Supported || RowStreamingLinear.Supported);
    }
}
