using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// x·Wᵀ + b for every linear of the model (dense, merged MoE, expert groups, the vocabulary bank's scores). On a CPU
/// with 512-bit vectors every float32 inference product goes through <see cref="PanelLinear"/> (W as 32-column
/// transposed panels). Up to <see cref="SmallBatchMaxRows"/> rows of x (a decode step: beam 2 gives 4 rows, a word and
/// a query per beam; B batched captions give 4·B) the product reads W about once and the weight's owner keeps its
/// panels (<see cref="WeightPanels"/>); larger products (an image's 197 tokens, a bank batch of 768) transpose each
/// panel once per call, which their many rows amortise, and use an owner's panels only if a small product already
/// built them. Measured on the 2-core machine over MoE-B's 48 encoder linears, 2 torch threads (docs/benchmarks.md,
/// "Panel linears"): libtorch's <c>linear</c> (MKL, whose generic path this AMD CPU gets) 34 ms at 4 rows, 56–59 ms at
/// 32, 249–293 ms at 197 and 835–853 ms at 768; the panel kernel 6.4–7.2, 18–20, 120–124 and 420–437 ms. Without
/// 512-bit vectors, up to <see cref="SmallBatchMaxRows"/> rows go through <see cref="RowStreamingLinear"/> and larger
/// products stay with libtorch.
/// The choice depends only on the shapes and the machine, never on the thread count or on whether panels were
/// prebuilt, so two processes computing the same rows (an embedded engine, an expert node) get the same bits, and a row
/// gets the same bits alone or in any batch. Autograd (training) and other devices always use <c>linear</c>.
/// </summary>
public static class Linears
{
    /// <summary>Products with 1 to this many rows of x build and read the weight's panels (and, without 512-bit vectors,
    /// are the only ones the kernels compute).</summary>
    public const int SmallBatchMaxRows = 128;

    /// <summary>x [..., K], weight [N, K], bias [N] or null → [..., N]. <paramref name="panels"/>: the weight's
    /// <see cref="WeightPanels"/> kept by its owner, built by small products (null: each call transposes what it reads;
    /// the bits are the same either way).</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, WeightPanels? panels = null)
    {
        var shape = TensorShapes.Of(x);        // a copy of our own: its last size is changed below
        if (!Streams(x, shape, weight, bias, out int rows)) return nn.functional.linear(x, weight, bias);
        // One new tensor per call: the kernel reads x's rows and writes y's whatever their leading shape.
        shape[^1] = weight.size(0);
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
        if (features == 0 || elements == 0 || elements / features > int.MaxValue) return false;
        rows = (int)(elements / features);
        bool kernel = PanelLinear.Supported || rows <= SmallBatchMaxRows && RowStreamingLinear.Supported;
        return x.device_type == TorchSharp.DeviceType.CPU && weight.device_type == TorchSharp.DeviceType.CPU
               && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && (bias is null || bias.dtype == ScalarType.Float32)
               && weight.is_contiguous() && (bias is null || bias.is_contiguous())
               && weight.dim() == 2 && weight.size(1) == features
               && !(is_grad_enabled() && (x.requires_grad || weight.requires_grad || bias?.requires_grad == true))
               && kernel;
    }
}
