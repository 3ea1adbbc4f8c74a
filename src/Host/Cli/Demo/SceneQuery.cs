using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Demo.Synthetic;

namespace UniPerceiverMoe.Host.Cli.Demo;

/// <summary>
/// The ground truth of a watch query on the demo camera: the attributes the query names in the caption grammar's
/// words (a colour, a shape, an event; "turns blue" also names the second colour). A scene matches when it has every
/// named attribute, so "a red circle moves to the left" matches exactly that scene and "a red circle" any red circle.
/// A query that names nothing of the grammar is refused: it would have no ground truth.
/// </summary>
public sealed record SceneQuery(string Text, int? Colour, ShapeKind? Shape, ClipAction? Action, int? SecondColour)
{
    private static readonly string[] Moves = ["moves to the left", "moves to the right", "moves up", "moves down"];

    public static SceneQuery Parse(string text)
    {
        var words = text.Trim().ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string joined = " " + string.Join(' ', words) + " ";
        int? colour = null, second = null;
        ShapeKind? shape = null;
        ClipAction? action = null;
        for (int i = 0; i < words.Length; i++)
        {
            int c = IndexOf(CaptionGrammar.ColourLabels, words[i]);
            int s = IndexOf(CaptionGrammar.ShapeLabels, words[i]);
            if (c >= 0 && i > 0 && words[i - 1] == "turns") second = c;
            else if (c >= 0) colour ??= c;
            if (s >= 0) shape ??= (ShapeKind)s;
            if (words[i] == "turns") action = ClipAction.Turn;
            else if (words[i] == "appears") action = ClipAction.Appear;
            else if (words[i] == "disappears") action = ClipAction.Disappear;
        }
        for (int m = 0; m < Moves.Length; m++)
            if (joined.Contains(" " + Moves[m] + " ", StringComparison.Ordinal)) action = (ClipAction)m;
        if (colour is null && shape is null && action is null)
            throw new InputException("--query", $"'{text}' names no colour, shape or event of the demo grammar ({CaptionGrammar.Description})");
        return new SceneQuery(text.Trim(), colour, shape, action, second);
    }

    /// <summary>Whether <paramref name="scene"/> has every attribute this query names.</summary>
    public bool Matches(SyntheticClip scene) =>
        (Colour is null || scene.Colour == Colour)
        && (Shape is null || scene.Shape == Shape)
        && (Action is null || scene.Action == Action)
        && (SecondColour is null || (scene.Action == ClipAction.Turn && scene.SecondColour == SecondColour));

    private static int IndexOf(IReadOnlyList<string> names, string word)
    {
        for (int i = 0; i < names.Count; i++)
            if (names[i] == word) return i;
        return -1;
    }
}
