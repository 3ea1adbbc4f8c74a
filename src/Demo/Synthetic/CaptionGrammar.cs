// The caption grammar and the classification label sets of the synthetic demo corpus.
using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

/// <summary>
/// Captions: "a {colour} {shape} {event}" with event ∈ {moves to the left, moves to the right, moves up, moves down,
/// turns {colour}, appears, disappears}. Labels for classification: shape, colour (the first colour) and action.
/// The caption set is finite (3 shapes × 5 colours × 10 events = 150), so the corpus words are known up front.
/// </summary>
public static class CaptionGrammar
{
    public static IReadOnlyList<string> ShapeLabels { get; } = ["circle", "square", "triangle"];

    public static IReadOnlyList<string> ColourLabels { get; } = SyntheticPalette.Colours.Select(c => c.Name).ToArray();

    /// <summary>Action class names in <see cref="ClipAction"/> order (multi-word texts, as the reference's class names).</summary>
    public static IReadOnlyList<string> ActionLabels { get; } =
        ["moves to the left", "moves to the right", "moves up", "moves down", "changes colour", "appears", "disappears"];

    /// <summary>The grammar as shown in demo.json.</summary>
    public const string Description =
        "a {colour} {shape} (moves to the left | moves to the right | moves up | moves down | turns {colour2} | appears | disappears)";

    public static string Caption(SyntheticClip clip)
    {
        string subject = $"a {ColourLabels[clip.Colour]} {ShapeLabels[(int)clip.Shape]}";
        return clip.Action == ClipAction.Turn
            ? $"{subject} turns {ColourLabels[clip.SecondColour]}"
            : $"{subject} {ActionLabels[(int)clip.Action]}";
    }

    /// <summary>Ground-truth label index per attribute: (shape, colour, action).</summary>
    public static (int Shape, int Colour, int Action) Labels(SyntheticClip clip) => ((int)clip.Shape, clip.Colour, (int)clip.Action);

    /// <summary>Every caption the grammar can produce (the corpus).</summary>
    public static IReadOnlyList<string> AllCaptions()
    {
        var captions = new List<string>();
        for (int s = 0; s < ShapeLabels.Count; s++)
            for (int c = 0; c < ColourLabels.Count; c++)
                foreach (var action in Enum.GetValues<ClipAction>())
                {
                    if (action != ClipAction.Turn)
                        captions.Add(Caption(Probe((ShapeKind)s, c, action, c)));
                    else
                        for (int c2 = 0; c2 < ColourLabels.Count; c2++)
                            if (c2 != c) captions.Add(Caption(Probe((ShapeKind)s, c, action, c2)));
                }
        return captions;
    }

    private static SyntheticClip Probe(ShapeKind shape, int colour, ClipAction action, int second) =>
        new(shape, colour, action, second, 0, 0, 1, 0, 0.5f, 0, 0, 224);
}
