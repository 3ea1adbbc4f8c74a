// Specs for ClipTokenizer against the reference's outputs (tokenizer.json) and its documented behaviour.
using UniPerceiverMoe.Model.Tokenization;
using Xunit.Abstractions;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Tokenization;

public sealed class ClipTokenizerSpecs(ITestOutputHelper output)
{
    private static ClipTokenizer Tokenizer => TokenizerFixture.Tokenizer;

    private static string Ids(IEnumerable<int> ids) => string.Join(' ', ids);

    [Fact, Trait("Category", "Golden")]
    public void Encode_should_reproduce_the_reference_ids_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "ids", c => Ids(c.Ids), c => Ids(Tokenizer.Encode(c.Text)), s => s);
        Assert.Equal(GoldenFacts.TokenizerCases, TokenizerFixture.Cases.Count);
        Assert.Empty(failures);
    }

    [Fact, Trait("Category", "Golden")]
    public void Encode_should_reproduce_the_reference_ids_with_end_of_text_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "ids_with_eot", c => Ids(c.IdsWithEot),
            c => Ids(Tokenizer.Encode(c.Text + " <|endoftext|>")), s => s);
        Assert.Empty(failures);
    }

    [Fact, Trait("Category", "Golden")]
    public void Tokenize_should_reproduce_the_reference_bpe_tokens_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "bpe_tokens", c => string.Join(' ', c.BpeTokens),
            c => string.Join(' ', Tokenizer.Tokenize(c.Text)), s => s);
        Assert.Empty(failures);
    }

    [Fact, Trait("Category", "Golden")]
    public void Decode_should_reproduce_the_reference_text_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "decoded", c => c.Decoded, c => Tokenizer.Decode(c.Ids), s => s);
        Assert.Empty(failures);
    }

    [Theory]
    [InlineData("a photo of a cat", new[] { 320, 1125, 539, 320, 2368 })]
    [InlineData("2 dogs and 3 cats", new[] { 273, 3255, 537, 274, 3989 })]
    public void Encode_should_give_the_known_clip_ids_without_start_or_end_tokens(string text, int[] expected) =>
        Assert.Equal(expected, Tokenizer.Encode(text));

    [Fact]
    public void Special_ids_should_follow_the_clip_vocabulary()
    {
        Assert.Equal(new[] { ClipTokenizer.StartOfText }, Tokenizer.Encode("<|startoftext|>"));
        Assert.Equal(new[] { ClipTokenizer.EndOfText }, Tokenizer.Encode("<|endoftext|>"));
        Assert.Equal(new[] { ClipTokenizer.Gen }, Tokenizer.Encode("<|gen|>"));
        Assert.Equal(new[] { ClipTokenizer.Spe }, Tokenizer.Encode("<|spe|>"));
        Assert.DoesNotContain(ClipTokenizer.Mask, Tokenizer.Encode("<|mask|>"));
        Assert.Equal("<|mask|>", Tokenizer.Decode([ClipTokenizer.Mask]));
        Assert.Equal(49411, ClipTokenizer.VocabularySize);
    }

    [Fact]
    public void EncodeForTarget_should_append_end_of_text_and_keep_it_when_truncating()
    {
        Assert.Equal(new[] { 320, 1125, 539, 320, 2368, ClipTokenizer.EndOfText }, Tokenizer.EncodeForTarget("a photo of a cat", 30));
        Assert.Equal(new[] { 320, 1125, ClipTokenizer.EndOfText }, Tokenizer.EncodeForTarget("a photo of a cat", 3));
        Assert.Equal(new[] { ClipTokenizer.EndOfText }, Tokenizer.EncodeForTarget("a photo of a cat", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.EncodeForTarget("x", 0));
    }

    [Fact]
    public void Encode_should_reject_text_over_the_character_limit_naming_the_reason()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tokenizer.Encode(new string('a', 100_001)));
        Assert.Contains("MaxInputChars", ex.Message);
        Tokenizer.Encode(new string('a', 100_000));
    }

    [Fact]
    public void Encode_should_reject_text_over_the_token_limit_naming_the_reason()
    {
        var small = new ClipTokenizer(ClipBpeVocabulary.Load(TokenizerFixture.VocabularyPath), new ClipTokenizerLimits(MaxTokens: 4));
        Assert.Equal(4, small.Encode("a b c d").Count);
        var ex = Assert.Throws<ArgumentException>(() => small.Encode("a b c d e"));
        Assert.Contains("MaxTokens", ex.Message);
    }

    [Theory]
    [InlineData("a man riding a wave on top of a surfboard", "a man riding a wave on top of a surfboard ")]
    [InlineData("naïve café in zürich", "naïve café in zürich ")]
    [InlineData("一只狗 😀", "一只狗 😀 ")]
    public void Decode_should_round_trip_cleaned_text_with_a_space_per_word_end(string text, string expected) =>
        Assert.Equal(expected, Tokenizer.Decode(Tokenizer.Encode(text)));

    [Fact]
    public void Decode_should_replace_a_split_utf8_sequence_and_reject_unknown_ids()
    {
        // The first two bytes of U+1F600 (F0 9F 98 80) alone are one maximal invalid subpart: one U+FFFD.
        Assert.Equal("\uFFFD", Tokenizer.Decode([ByteId(0xF0), ByteId(0x9F)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode([ClipTokenizer.VocabularySize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode([-1]));
    }

    /// <summary>Vocabulary id of the single-byte token for <paramref name="b"/> (no "&lt;/w&gt;").</summary>
    private static int ByteId(byte b) => ByteUnicode.BytesInVocabularyOrder.ToList().IndexOf(b);
}
