// Port of uniperceiver/datasets/moe_embeddings.py (MOE_TYPE 'attribute'): the 8-bit attribute that drives the MoE gates.

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// An 8-bit MoE attribute (bit i of <see cref="Bits"/> = element i of the reference's attribute vector).
/// Gates see only this vector, never the token, so a route is a constant per (layer, gate, attribute).
/// </summary>
public readonly record struct MoeAttribute(byte Bits)
{
    /// <summary>image/video classification and retrieval input: 1 0 0 1 1 0 0 0.</summary>
    public static readonly MoeAttribute VisualInput = Parse("10011000");
    /// <summary>retrieval target captions: 1 0 0 1 0 1 1 0.</summary>
    public static readonly MoeAttribute RetrievalTarget = Parse("10010110");
    /// <summary>class-name targets (ImageNet, Kinetics, Moments): 1 0 0 1 0 1 1 0 (the same bits as retrieval targets).</summary>
    public static readonly MoeAttribute ClassNameTarget = Parse("10010110");
    /// <summary>captioning input, row 0 (spe + visual tokens): 1 1 0 1 1 0 0 0.</summary>
    public static readonly MoeAttribute CaptionVisual = Parse("11011000");
    /// <summary>captioning input, row 1 (query and generated words): 1 1 0 1 0 1 0 1.</summary>
    public static readonly MoeAttribute CaptionText = Parse("11010101");
    /// <summary>caption vocabulary bank and GLUE label words: 1 1 0 1 0 1 1 0.</summary>
    public static readonly MoeAttribute VocabWord = Parse("11010110");
    /// <summary>MLM / text classification input: 0 1 0 1 0 1 0 0.</summary>
    public static readonly MoeAttribute TextMlmInput = Parse("01010100");

    /// <summary>Every attribute the released inference tasks use (route table rows computed at load).</summary>
    public static IReadOnlyList<MoeAttribute> Known { get; } =
        new[] { VisualInput, RetrievalTarget, CaptionVisual, CaptionText, VocabWord, TextMlmInput };

    /// <summary>Parses "10011000" (element 0 first, as the reference lists it).</summary>
    public static MoeAttribute Parse(string vector)
    {
        var digits = vector.Where(c => c is '0' or '1').ToArray();
        if (digits.Length != 8) throw new ArgumentException($"attribute '{vector}' must have 8 binary digits.");
        byte b = 0;
        for (int i = 0; i < 8; i++) if (digits[i] == '1') b |= (byte)(1 << i);
        return new MoeAttribute(b);
    }

    /// <summary>The vector as floats, element 0 first (the gate's input).</summary>
    public float[] ToVector()
    {
        var v = new float[8];
        for (int i = 0; i < 8; i++) v[i] = (Bits >> i & 1) == 1 ? 1f : 0f;
        return v;
    }

    public override string ToString() => new(ToVector().Select(f => f > 0 ? '1' : '0').ToArray());
}
