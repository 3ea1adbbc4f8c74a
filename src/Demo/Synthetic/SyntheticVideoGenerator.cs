using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

/// <summary>
/// Draws clip descriptions deterministically: clip <c>index</c> of <c>seed</c> is always the same clip, independent of
/// which other clips were drawn (each clip has its own SplitMix64-seeded generator), so training and evaluation sets
/// are reproducible and disjoint seeds give independent sets.
/// </summary>
public sealed class SyntheticVideoGenerator
{
    public SyntheticVideoGenerator(SyntheticVideoOptions? options = null)
    {
        Options = (options ?? new SyntheticVideoOptions()).Validate();
    }

    public SyntheticVideoOptions Options { get; }

    public SyntheticClip Sample(long seed, long index)
    {
        var rng = new Random(ClipSeed(seed, index));
        float scale = Options.CanvasSize / 224f;
        var shape = (ShapeKind)rng.Next(3);
        int colours = SyntheticPalette.Colours.Count;
        int colour = rng.Next(colours);
        var action = (ClipAction)rng.Next(Enum.GetValues<ClipAction>().Length);
        int second = (colour + 1 + rng.Next(colours - 1)) % colours;
        float radius = (30f + 16f * rng.NextSingle()) * scale;
        bool moves = action <= ClipAction.MoveDown;
        float distance = moves ? (80f + 30f * rng.NextSingle()) * scale : 0f;
        float margin = radius + 4f * scale, size = Options.CanvasSize;
        // The start keeps the whole path inside the canvas: the moving axis reserves the distance on one side.
        float Pick(float lo, float hi) => lo + (hi - lo) * rng.NextSingle();
        float x = action switch
        {
            ClipAction.MoveLeft => Pick(margin + distance, size - margin),
            ClipAction.MoveRight => Pick(margin, size - margin - distance),
            _ => Pick(margin, size - margin),
        };
        float y = action switch
        {
            ClipAction.MoveUp => Pick(margin + distance, size - margin),
            ClipAction.MoveDown => Pick(margin, size - margin - distance),
            _ => Pick(margin, size - margin),
        };
        // Sampled frames sit at p = 0, 0.25, 0.50, 0.76: a switch in [0.2, 0.6] puts the first frame before it and
        // the last after it.
        float switchAt = 0.2f + 0.4f * rng.NextSingle();
        byte background = (byte)(15 + rng.Next(45));
        return new SyntheticClip(shape, colour, action, second, x, y, radius, distance, switchAt, background, rng.Next(), Options.CanvasSize);
    }

    /// <summary>Clips index..index+count-1 of <paramref name="seed"/>.</summary>
    public IReadOnlyList<SyntheticClip> SampleMany(long seed, long index, int count) =>
        Enumerable.Range(0, count).Select(i => Sample(seed, index + i)).ToArray();

    /// <summary>SplitMix64 of (seed, index) folded to a non-negative int.</summary>
    internal static int ClipSeed(long seed, long index)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)index * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
