using TorchSharp;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

/// <summary>
/// Rasterises a <see cref="SyntheticClip"/> into RGB frames: a flat grey background with per-frame uniform noise
/// (±8 levels, seeded by the clip) and the shape drawn without anti-aliasing. Pure function of (clip, frame).
/// </summary>
public static class ClipRenderer
{
    private const int NoiseAmplitude = 8;

    /// <summary>One frame as H·W·3 interleaved RGB bytes (H = W = canvas size).</summary>
    public static byte[] RenderFrame(SyntheticClip clip, int frame, SyntheticVideoOptions options)
    {
        int size = clip.CanvasSize;
        var rgb = new byte[size * size * 3];
        var rng = new Random(SyntheticVideoGenerator.ClipSeed(clip.NoiseSeed, frame));
        var noise = new byte[rgb.Length];
        rng.NextBytes(noise);
        for (int i = 0; i < rgb.Length; i++)
            rgb[i] = (byte)Math.Clamp(clip.BackgroundLevel + noise[i] % (2 * NoiseAmplitude + 1) - NoiseAmplitude, 0, 255);

        float p = options.Progress(frame);
        if (!clip.VisibleAt(p)) return rgb;
        var colour = clip.ColourAt(p);
        var (cx, cy) = clip.CentreAt(p);
        float r = clip.Radius;
        int x0 = Math.Max(0, (int)MathF.Floor(cx - r)), x1 = Math.Min(size - 1, (int)MathF.Ceiling(cx + r));
        int y0 = Math.Max(0, (int)MathF.Floor(cy - r)), y1 = Math.Min(size - 1, (int)MathF.Ceiling(cy + r));
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                if (!Inside(clip.Shape, x + 0.5f - cx, y + 0.5f - cy, r)) continue;
                int o = (y * size + x) * 3;
                rgb[o] = colour.R;
                rgb[o + 1] = colour.G;
                rgb[o + 2] = colour.B;
            }
        return rgb;
    }

    /// <summary>The frames the model sees (<see cref="SyntheticVideoOptions.ModelFrameIndices"/>) as a new
    /// [T, H, W, 3] uint8 CPU tensor owned by the caller — the input of VideoTransforms.TimesformerTest.</summary>
    public static Tensor RenderModelFrames(SyntheticClip clip, SyntheticVideoOptions options)
    {
        var indices = options.ModelFrameIndices();
        int size = clip.CanvasSize, frameBytes = size * size * 3;
        var all = new byte[indices.Length * frameBytes];
        for (int i = 0; i < indices.Length; i++)
            RenderFrame(clip, indices[i], options).CopyTo(all, i * frameBytes);
        return tensor(all, [indices.Length, size, size, 3], ScalarType.Byte);
    }

    /// <summary>Whether the offset (dx, dy) from the centre lies in the shape of "radius" r.</summary>
    internal static bool Inside(ShapeKind shape, float dx, float dy, float r) => shape switch
    {
        ShapeKind.Circle => dx * dx + dy * dy <= r * r,
        ShapeKind.Square => MathF.Abs(dx) <= 0.85f * r && MathF.Abs(dy) <= 0.85f * r,
        // Upward triangle: apex at dy = -r, base at dy = +0.8r with half-width r.
        _ => dy >= -r && dy <= 0.8f * r && MathF.Abs(dx) <= r * (dy + r) / (1.8f * r),
    };
}
