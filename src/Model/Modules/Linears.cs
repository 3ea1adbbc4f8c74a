using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// x·Wᵀ + b for every linear of the model (dense, merged MoE, expert groups, the vocabulary bank's scores). A product
/// with at most <see cref="SmallBatchMaxRows"/> rows of x on the CPU (a decode step: beam 2 gives 4 rows, a word and a
/// query per beam; B batched captions give 4·B, so up to 32 captions) reads W once per call and, for more than a few rows, is limited by the
/// multiply-adds. libtorch's <c>linear</c> packs W into a buffer at every such call (MKL's GEMM), so
/// <see cref="RowStreamingLinear"/> computes it instead. Measured on the 2-core machine over MoE-B's 48 encoder linears
/// (340 MB of weights, out of cache), 2 torch threads, <c>linear</c> → here: 4 rows 34 → 10 ms, 8 rows 32 → 18 ms,
/// 16 rows 41 → 26 ms, 32 rows 56–59 → 39–45 ms, 64 rows 84–87 → 69–80 ms, 96 rows 113–115 → 100–102 ms, 128 rows
/// 139–168 → 130–132 ms (docs/benchmarks.md, "Small-batch linears" and "Batched decode"). Past 128 rows the products
/// are GEMM-sized and stay with libtorch.
/// The choice depends only on the shapes, never on the thread count, so two processes computing the same rows (an
/// embedded engine, an expert node) get the same bits; within the small range a row gets the same bits alone or in a
/// batch. Autograd (training) and other devices always use <c>linear</c>.
/// </summary>
public static class Linears
{
    /// <summary>Products with 1 to this many rows of x use the weight-streaming kernel.</summary>
    public const int SmallBatchMaxRows = 128;

    /// <summary>x [..., K], weight [N, K], bias [N] or null → [..., N].</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        var shape = x.shape.ToArray();         // a copy of our own: its last size is changed below
        if (!Streams(x, shape, weight, bias, out int rows)) return nn.functional.linear(x, weight, bias);
        // One new tensor per call: the kernel reads x's rows and writes y's whatever their leading shape.
        shape[^1] = weight.shape[0];
        var y = empty(shape, dtype: ScalarType.Float32, device: x.device);
        using var packed = x.is_contiguous() ? null : x.contiguous();
        RowStreamingLinear.Compute(packed ?? x, weight, bias, y, rows);
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
               && RowStreamingLinear.Supported;
    }
}
