// Port of PyTorch 1.13's CPU upsample_bilinear2d (UpSampleKernel.cpp HelperInterpLinear + UpSample.h
// compute_source_index_and_lambda), align_corners=False, as the reference ran it. Newer libtorch (TorchSharp's 2.x)
// computes the source index in float32 instead, which moves outputs by up to ~2e-5; this keeps the reference's
// weights: scale = (float)in / out in float32, index = scale * (o + 0.5) - 0.5 in double, lambdas stored as float32.
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

internal static class LegacyBilinear
{
    /// <summary>Resizes <paramref name="x"/> [N, C, H, W] float32 (any device, not consumed) to
    /// [N, C, outH, outW]: the width pass first (x[w0] * l0 + x[w1] * l1), then the height pass over those rows,
    /// the order of the reference kernel's nested interpolation. The result lives in the caller's dispose scope.</summary>
    public static Tensor Resize(Tensor x, int outH, int outW)
    {
        if (x.dim() != 4 || x.dtype != ScalarType.Float32)
            throw new ArgumentException($"expected [N, C, H, W] float32, got [{string.Join(", ", x.shape)}] {x.dtype}", nameof(x));
        int inH = (int)x.size(2), inW = (int)x.size(3);
        var (w0, w1, wl0, wl1) = Weights(inW, outW, x.device, [1, 1, 1, outW]);
        var (h0, h1, hl0, hl1) = Weights(inH, outH, x.device, [1, 1, outH, 1]);
        var rows = x.index_select(3, w0).mul(wl0).Plus(x.index_select(3, w1).mul(wl1));       // [N, C, inH, outW]
        return rows.index_select(2, h0).mul(hl0).Plus(rows.index_select(2, h1).mul(hl1));     // [N, C, outH, outW]
    }

    /// <summary>Per output position o: source indices i0, i1 (int64) and weights l0, l1 (float32, shaped
    /// <paramref name="weightShape"/> for broadcasting), following compute_source_index_and_lambda.</summary>
    private static (Tensor I0, Tensor I1, Tensor L0, Tensor L1) Weights(int inSize, int outSize, Device device, long[] weightShape)
    {
        var (i0, i1, l0, l1) = Taps(inSize, outSize);
        return (tensor(i0, device: device), tensor(i1, device: device),
            tensor(l0, weightShape, device: device), tensor(l1, weightShape, device: device));
    }

    /// <summary>The two source taps of every output position o along one axis and their weights:
    /// out[o] = in[I0[o]] * L0[o] + in[I1[o]] * L1[o], each product and the sum rounded to float32.</summary>
    internal static (long[] I0, long[] I1, float[] L0, float[] L1) Taps(int inSize, int outSize)
    {
        var i0 = new long[outSize];
        var i1 = new long[outSize];
        var l0 = new float[outSize];
        var l1 = new float[outSize];
        float scale = (float)inSize / outSize;
        for (int o = 0; o < outSize; o++)
        {
            if (inSize == outSize)
            {
                (i0[o], i1[o], l0[o], l1[o]) = (o, o, 1f, 0f);
                continue;
            }
            double src = scale * (o + 0.5) - 0.5; // float scale promoted to double (the kernel's acc type)
            if (src < 0) src = 0;
            long index0 = (long)src;
            i0[o] = index0;
            i1[o] = index0 < inSize - 1 ? index0 + 1 : index0;
            l1[o] = (float)(src - index0);
            l0[o] = (float)(1.0 - l1[o]);
        }
        return (i0, i1, l0, l1);
    }
}
