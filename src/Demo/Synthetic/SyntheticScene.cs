// The synthetic world of the demo model: one coloured shape per clip that moves, changes colour, appears or disappears.
using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

public enum ShapeKind
{
    Circle,
    Square,
    Triangle,
}

/// <summary>What happens in a clip. The four moves are the "direction" attribute; the rest are events.</summary>
public enum ClipAction
{
    MoveLeft,
    MoveRight,
    MoveUp,
    MoveDown,
    Turn,
    Appear,
    Disappear,
}

/// <summary>A named sRGB colour of the palette.</summary>
public sealed record SyntheticColour(string Name, byte R, byte G, byte B);

/// <summary>
/// Everything needed to render one clip, in pixels of a square canvas of side <see cref="CanvasSize"/>.
/// The shape's centre at progress p ∈ [0, 1] (p = frame / (frames − 1)) is Start + p·Distance·direction;
/// <see cref="SwitchAt"/> is the progress at which Turn changes colour and Appear/Disappear toggle visibility.
/// </summary>
public sealed record SyntheticClip(
    ShapeKind Shape,
    int Colour,
    ClipAction Action,
    int SecondColour,
    float StartX,
    float StartY,
    float Radius,
    float Distance,
    float SwitchAt,
    byte BackgroundLevel,
    int NoiseSeed,
    int CanvasSize)
{
    public SyntheticColour ColourAt(float progress) =>
        SyntheticPalette.Colours[Action == ClipAction.Turn && progress >= SwitchAt ? SecondColour : Colour];

    public bool VisibleAt(float progress) => Action switch
    {
        ClipAction.Appear => progress >= SwitchAt,
        ClipAction.Disappear => progress < SwitchAt,
        _ => true,
    };

    public (float X, float Y) CentreAt(float progress)
    {
        float d = progress * Distance;
        return Action switch
        {
            ClipAction.MoveLeft => (StartX - d, StartY),
            ClipAction.MoveRight => (StartX + d, StartY),
            ClipAction.MoveUp => (StartX, StartY - d),
            ClipAction.MoveDown => (StartX, StartY + d),
            _ => (StartX, StartY),
        };
    }
}

/// <summary>The five colours; chosen far apart in RGB so that video compression (yuv420p) keeps them distinct.</summary>
public static class SyntheticPalette
{
    public static IReadOnlyList<SyntheticColour> Colours { get; } =
    [
        new("red", 220, 40, 40),
        new("green", 40, 190, 60),
        new("blue", 50, 90, 235),
        new("yellow", 235, 215, 40),
        new("purple", 160, 60, 210),
    ];
}
