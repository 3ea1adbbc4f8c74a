using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Model.Tokenization;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// The tokenised synthetic corpus: caption targets (encode(caption + " &lt;|endoftext|&gt;"), as the reference's
/// caption datasets), the corpus word ids (every id any caption uses, EOS included, ascending) that form the
/// constrained vocabulary bank, and the three class-name target sets (shape, colour, action).
/// </summary>
public sealed class DemoCorpus
{
    /// <summary>Cap on caption target length (the reference's caption MAX_SEQ_LEN is 30–50; ours are ≤ 8 tokens).</summary>
    public const int MaxCaptionTokens = 30;

    private readonly Dictionary<long, int> rowOf;

    public DemoCorpus(ClipTokenizer tokenizer)
    {
        Tokenizer = tokenizer;
        WordIds = CaptionGrammar.AllCaptions()
            .SelectMany(c => tokenizer.EncodeForTarget(c, MaxCaptionTokens)).Select(i => (long)i)
            .Distinct().Order().ToArray();
        rowOf = WordIds.Select((id, row) => (id, row)).ToDictionary(p => p.id, p => p.row);
        LabelSets =
        [
            new("shape", CaptionGrammar.ShapeLabels, Encode(CaptionGrammar.ShapeLabels)),
            new("colour", CaptionGrammar.ColourLabels, Encode(CaptionGrammar.ColourLabels)),
            new("action", CaptionGrammar.ActionLabels, Encode(CaptionGrammar.ActionLabels)),
        ];
    }

    public ClipTokenizer Tokenizer { get; }

    /// <summary>Every token id of the corpus captions, EOS included, ascending: row r of the constrained bank is WordIds[r].</summary>
    public long[] WordIds { get; }

    /// <summary>Shape, colour and action class names with their target token ids (ending in EOS).</summary>
    public IReadOnlyList<DemoLabelSet> LabelSets { get; }

    /// <summary>Caption target ids ending in EOS.</summary>
    public IReadOnlyList<int> CaptionIds(string caption) => Tokenizer.EncodeForTarget(caption, MaxCaptionTokens);

    /// <summary>The constrained-bank row of a corpus token id.</summary>
    public int RowOf(long id) => rowOf.TryGetValue(id, out var row) ? row
        : throw new ArgumentException($"token id {id} is not a corpus word.");

    /// <summary>The label of <paramref name="clip"/> in label set <paramref name="set"/> (0 shape, 1 colour, 2 action).</summary>
    public static int Label(SyntheticClip clip, int set)
    {
        var (shape, colour, action) = CaptionGrammar.Labels(clip);
        return set switch { 0 => shape, 1 => colour, _ => action };
    }

    private IReadOnlyList<IReadOnlyList<int>> Encode(IReadOnlyList<string> names) =>
        names.Select(n => Tokenizer.EncodeForTarget(n, MaxCaptionTokens)).ToArray();
}

/// <summary>One classification attribute: class names and their target token ids (each ending in EOS).</summary>
public sealed record DemoLabelSet(string Name, IReadOnlyList<string> Labels, IReadOnlyList<IReadOnlyList<int>> TargetIds);
