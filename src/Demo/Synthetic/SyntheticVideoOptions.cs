using UniPerceiverMoe.Model.Preprocessing;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

/// <summary>
/// How clips are laid out in time and space. Defaults: 224×224 canvas (so <see cref="VideoTransforms.TimesformerTest"/>
/// leaves the size alone), 128 frames at 30 fps (4.3 s), and the model sees the MSVD eval sampling of 4 frames at
/// stride 32 (frames 0, 32, 64, 96), exactly what <see cref="VideoClipReader.ReadEvalClipsAsync"/> takes from the file.
/// </summary>
public sealed record SyntheticVideoOptions
{
    public int CanvasSize { get; init; } = 224;
    public int TotalFrames { get; init; } = 128;
    public int Fps { get; init; } = 30;
    public int FramesPerClip { get; init; } = 4;
    public int Stride { get; init; } = 32;

    /// <summary>The frames the model sees: the reference eval indices of one view.</summary>
    public int[] ModelFrameIndices() => FrameSampler.EvalIndices(TotalFrames, Fps, FramesPerClip, Stride)[0];

    /// <summary>Progress p ∈ [0, 1] of a frame index.</summary>
    public float Progress(int frame) => TotalFrames <= 1 ? 0f : (float)frame / (TotalFrames - 1);

    public SyntheticVideoOptions Validate()
    {
        if (CanvasSize < 64) throw new ArgumentException($"canvas size must be at least 64 pixels (got {CanvasSize}).");
        if (TotalFrames < 2 || Fps < 1 || FramesPerClip < 1 || Stride < 1)
            throw new ArgumentException("total frames (≥ 2), fps, frames per clip and stride must be positive.");
        return this;
    }
}
