// The CPU path of VideoTransforms' test transforms in one pass over the frame bytes: ToTensor (÷ 255), the two
// LegacyBilinear passes (width, then height) and Normalize(0.5, 0.5), computed for the cropped window only.
// The torch path runs ~10 full-frame tensor ops, each writing a fresh multi-megabyte buffer (a 4-frame 320x240 window
// took 10-130 ms on 2 shared cores, most of it page faults on those buffers); this writes the [.., 3, 224, 224]
// result once. Invariant: every value is computed with the torch path's float32 operations in the torch path's order
// (u8 / 255f; a * l0 + b * l1 per pass, each product and the sum rounded; (v - 0.5f) / 0.5f), so the two paths give
// the same bits (FusedVideoCropSpecs).
using System.Buffers;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

internal static class FusedVideoCrop
{
    private static readonly float[] UnitBytes = Enumerable.Range(0, 256).Select(v => v / 255f).ToArray();

    /// <summary>True when the frames are on the CPU and the result is wanted there (other devices keep torch ops).</summary>
    public static bool Applies(Tensor framesThwcU8, Device? device) =>
        framesThwcU8.device_type == DeviceType.CPU && (device is null || device.type == DeviceType.CPU);

    /// <summary>[T, H, W, 3] uint8 (validated by the caller) → crops.Length stacked crops [crops, T, 3, size, size]
    /// float32 (no leading axis when <paramref name="stackCrops"/> is false and there is one crop), scaled to
    /// (scaledH, scaledW) and cut at each (Y, X) offset. An axis whose size does not change gets the taps
    /// in[o] * 1 + in[o] * 0, exactly in[o]: the torch path's untouched frames.</summary>
    public static Tensor Run(Tensor framesThwcU8, int scaledH, int scaledW, int size, IReadOnlyList<(int Y, int X)> crops, bool stackCrops)
    {
        using var source = framesThwcU8.contiguous();
        int frames = (int)source.size(0), height = (int)source.size(1), width = (int)source.size(2);
        long[] shape = stackCrops ? [crops.Count, frames, 3, size, size] : [frames, 3, size, size];
        var result = empty(shape, ScalarType.Float32);
        var src = source.bytes;
        var dst = MemoryMarshal.Cast<byte, float>(result.bytes);
        var w = LegacyBilinear.Taps(width, scaledW);
        var h = LegacyBilinear.Taps(height, scaledH);
        var rows = ArrayPool<float>.Shared.Rent(height * size);
        try
        {
            int plane = size * size;
            for (int crop = 0; crop < crops.Count; crop++)
            {
                var (top, left) = crops[crop];
                for (int t = 0; t < frames; t++)
                    for (int c = 0; c < 3; c++)
                    {
                        var frame = src.Slice(t * height * width * 3, height * width * 3);
                        var output = dst.Slice(((crop * frames + t) * 3 + c) * plane, plane);
                        Plane(frame, width, c, w, h, top, left, size, rows, output);
                    }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rows);
        }
        return result;
    }

    /// <summary>One channel of one frame: the width pass over the source rows the height pass reads, then the height
    /// pass and the normalization of the crop.</summary>
    private static void Plane(ReadOnlySpan<byte> frame, int width, int channel, (long[] I0, long[] I1, float[] L0, float[] L1) w,
        (long[] I0, long[] I1, float[] L0, float[] L1) h, int top, int left, int size, float[] rows, Span<float> output)
    {
        var unit = UnitBytes;
        int firstRow = (int)h.I0[top], lastRow = (int)h.I1[top + size - 1];
        for (int y = firstRow; y <= lastRow; y++)
        {
            var line = frame.Slice(y * width * 3, width * 3);
            var row = rows.AsSpan(y * size, size);
            for (int x = 0; x < size; x++)
            {
                int o = left + x;
                float a = unit[line[(int)w.I0[o] * 3 + channel]], b = unit[line[(int)w.I1[o] * 3 + channel]];
                row[x] = a * w.L0[o] + b * w.L1[o];
            }
        }
        for (int y = 0; y < size; y++)
        {
            int o = top + y;
            var r0 = rows.AsSpan((int)h.I0[o] * size, size);
            var r1 = rows.AsSpan((int)h.I1[o] * size, size);
            float l0 = h.L0[o], l1 = h.L1[o];
            var line = output.Slice(y * size, size);
            for (int x = 0; x < size; x++)
                line[x] = (r0[x] * l0 + r1[x] * l1 - 0.5f) / 0.5f;
        }
    }
}
