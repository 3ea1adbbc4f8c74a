// Port of Pillow 9.4 libImaging/Resample.c (ImagingResample with the BICUBIC filter, 8 bits per channel):
// separable convolution, horizontal pass first into a temporary image that only holds the rows the
// vertical pass reads, then the vertical pass; fixed-point coefficients and uint8 clipping after each pass.
namespace UniPerceiverMoe.Model.Preprocessing;

public static class PillowResize
{
    /// <summary>Fixed-point fraction bits of the coefficients: 8 bits of result, 2 spare bits for the negative
    /// lobes and sums above 1 (Pillow's PRECISION_BITS).</summary>
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Support of the bicubic kernel in source pixels at scale 1.</summary>
    private const double BicubicSupport = 2.0;

    /// <summary>Resizes an interleaved HWC uint8 image (any channel count, RGB = 3) to
    /// <paramref name="dstH"/> x <paramref name="dstW"/> exactly as Pillow 9.4's
    /// <c>Image.resize((dstW, dstH), Image.BICUBIC)</c> does for an 8-bit image. Returns a new HWC array.</summary>
    public static byte[] Bicubic(ReadOnlySpan<byte> src, int srcH, int srcW, int channels, int dstH, int dstW)
    {
        if (srcH <= 0 || srcW <= 0 || dstH <= 0 || dstW <= 0)
            throw new ArgumentOutOfRangeException(nameof(srcH), $"sizes must be positive: {srcH}x{srcW} -> {dstH}x{dstW}");
        if (channels is < 1 or > 4)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 to 4 channels");
        if (src.Length != (long)srcH * srcW * channels)
            throw new ArgumentException($"expected {srcH}x{srcW}x{channels} = {(long)srcH * srcW * channels} bytes, got {src.Length}", nameof(src));

        // Pillow: a same-size resize with the full box is a plain copy.
        if (srcH == dstH && srcW == dstW) return src.ToArray();

        // The box is the whole image (Image.resize's default); Pillow passes it as float[4].
        var (kH, boundsH, coeffsH) = PrecomputeCoeffs(srcW, 0f, srcW, dstW);
        var (kV, boundsV, coeffsV) = PrecomputeCoeffs(srcH, 0f, srcH, dstH);

        bool needHorizontal = dstW != srcW;
        bool needVertical = dstH != srcH;

        // Rows of the source that the vertical pass touches: [yFirst, yLast).
        int yFirst = boundsV[0];
        int yLast = boundsV[dstH * 2 - 2] + boundsV[dstH * 2 - 1];

        byte[] current = src.ToArray();
        int curH = srcH, curW = srcW;
        if (needHorizontal)
        {
            for (int i = 0; i < dstH; i++) boundsV[i * 2] -= yFirst;
            int tempH = yLast - yFirst;
            var temp = new byte[tempH * dstW * channels];
            Horizontal(current, curW, channels, yFirst, temp, tempH, dstW, kH, boundsH, coeffsH);
            current = temp;
            curH = tempH;
            curW = dstW;
        }
        if (needVertical)
        {
            var output = new byte[dstH * curW * channels];
            Vertical(current, curW, channels, output, dstH, kV, boundsV, coeffsV);
            current = output;
            curH = dstH;
        }
        System.Diagnostics.Debug.Assert(curH == dstH && curW == dstW);
        return current;
    }

    /// <summary>Pillow's bicubic kernel with a = -0.5.</summary>
    private static double BicubicFilter(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>precompute_coeffs + normalize_coeffs_8bpc: per output pixel xx, the first source index
    /// (bounds[2xx]), the tap count (bounds[2xx+1]) and ksize fixed-point taps (coeffs[xx*ksize ..]).</summary>
    private static (int KSize, int[] Bounds, int[] Coeffs) PrecomputeCoeffs(int inSize, float in0, float in1, int outSize)
    {
        double scale = (double)(in1 - in0) / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = BicubicSupport * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;

        var bounds = new int[outSize * 2];
        var coeffs = new int[outSize * ksize];
        var k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterScale;
            // C's (int) cast truncates toward zero; Pillow relies on that for its "+ 0.5" rounding.
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = BicubicFilter((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
                if (ww != 0.0) k[x] /= ww;
            for (int x = xmax; x < ksize; x++) k[x] = 0;

            for (int x = 0; x < ksize; x++)
            {
                double v = k[x] * (1 << PrecisionBits);
                coeffs[xx * ksize + x] = k[x] < 0 ? (int)(-0.5 + v) : (int)(0.5 + v);
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (ksize, bounds, coeffs);
    }

    /// <summary>Pillow's clip8: arithmetic shift out the fraction, clamp to [0, 255].</summary>
    private static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Horizontal pass: output row yy reads source row yy + rowOffset.</summary>
    private static void Horizontal(byte[] src, int srcW, int channels, int rowOffset,
        byte[] dst, int dstH, int dstW, int ksize, int[] bounds, int[] coeffs)
    {
        const int half = 1 << (PrecisionBits - 1);
        Span<int> acc = stackalloc int[4];
        for (int yy = 0; yy < dstH; yy++)
        {
            var srcRow = src.AsSpan((yy + rowOffset) * srcW * channels, srcW * channels);
            var dstRow = dst.AsSpan(yy * dstW * channels, dstW * channels);
            for (int xx = 0; xx < dstW; xx++)
            {
                int xmin = bounds[xx * 2], taps = bounds[xx * 2 + 1];
                var k = coeffs.AsSpan(xx * ksize, ksize);
                if (channels == 3)
                {
                    // RGB fast path: the same sums with the accumulators in registers.
                    int s0 = half, s1 = half, s2 = half;
                    var px = srcRow.Slice(xmin * 3, taps * 3);
                    for (int x = 0, p = 0; x < taps; x++, p += 3)
                    {
                        int kx = k[x];
                        s0 += px[p] * kx;
                        s1 += px[p + 1] * kx;
                        s2 += px[p + 2] * kx;
                    }
                    dstRow[xx * 3] = Clip8(s0);
                    dstRow[xx * 3 + 1] = Clip8(s1);
                    dstRow[xx * 3 + 2] = Clip8(s2);
                    continue;
                }
                acc.Fill(half);
                for (int x = 0; x < taps; x++)
                {
                    int p = (x + xmin) * channels;
                    int kx = k[x];
                    for (int c = 0; c < channels; c++) acc[c] += srcRow[p + c] * kx;
                }
                for (int c = 0; c < channels; c++) dstRow[xx * channels + c] = Clip8(acc[c]);
            }
        }
    }

    /// <summary>Vertical pass: output row yy mixes source rows bounds[2yy] .. + bounds[2yy+1] (already shifted
    /// to the temporary image's first row when the horizontal pass ran).</summary>
    private static void Vertical(byte[] src, int width, int channels, byte[] dst, int dstH,
        int ksize, int[] bounds, int[] coeffs)
    {
        const int half = 1 << (PrecisionBits - 1);
        int rowLen = width * channels;
        var acc = new int[rowLen];
        for (int yy = 0; yy < dstH; yy++)
        {
            int ymin = bounds[yy * 2], taps = bounds[yy * 2 + 1];
            var k = coeffs.AsSpan(yy * ksize, ksize);
            Array.Fill(acc, half);
            // Row-at-a-time accumulation: the same integer sums as Pillow's per-pixel loop, in cache order.
            for (int y = 0; y < taps; y++)
            {
                var srcRow = src.AsSpan((y + ymin) * rowLen, rowLen);
                int ky = k[y];
                for (int i = 0; i < rowLen; i++) acc[i] += srcRow[i] * ky;
            }
            var dstRow = dst.AsSpan(yy * rowLen, rowLen);
            for (int i = 0; i < rowLen; i++) dstRow[i] = Clip8(acc[i]);
        }
    }
}
