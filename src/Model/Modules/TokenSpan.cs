namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// The tokens [Start, Start + Count) of a pass whose outputs its last layer computes: every token still gives its
/// keys and values, but only these query, go through the out-projection and the FFN, and come out. A vocabulary-bank
/// pass keeps its spe token (the first); a decode pass keeps the next step's query (the last), since of the chosen
/// word only its keys and values are ever read again.
/// </summary>
public readonly record struct TokenSpan(int Start, int Count)
{
    public int End => Start + Count;

    /// <summary>The first <paramref name="count"/> tokens.</summary>
    public static TokenSpan First(int count) => new(0, count);

    /// <summary>The span within a pass of <paramref name="tokens"/> tokens, or an error naming both.</summary>
    public void CheckWithin(int tokens)
    {
        if (Start < 0 || Count < 1 || End > tokens)
            throw new ArgumentException($"output tokens [{Start}, {End}) are not within the pass's {tokens} tokens.");
    }

    /// <summary>Whether this span is every one of <paramref name="tokens"/> tokens (no narrowing needed).</summary>
    public bool IsAll(int tokens) => Start == 0 && Count == tokens;
}
