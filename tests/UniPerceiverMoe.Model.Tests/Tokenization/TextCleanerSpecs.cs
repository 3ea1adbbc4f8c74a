// Specs for TextCleaner (ftfy 6.1.1 fix_text subset + html.unescape twice + whitespace + lower) against the fixture.
using UniPerceiverMoe.Model.Tokenization;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Model.Tests.Tokenization;

public sealed class TextCleanerSpecs(ITestOutputHelper output)
{
    [Fact, Trait("Category", "Golden")]
    public void FixText_should_reproduce_ftfy_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "ftfy_fixed", c => c.FtfyFixed, c => TextCleaner.FixText(c.Text), s => s);
        // The fixture's own flag agrees with its texts: exactly the cases ftfy changes are marked.
        Assert.All(TokenizerFixture.Cases, c => Assert.Equal(c.FtfyFixed != c.Text, c.FtfyChangesText));
        Assert.Contains(TokenizerFixture.Cases, c => c.FtfyChangesText);
        Assert.Empty(failures);
    }

    [Fact, Trait("Category", "Golden")]
    public void Clean_should_reproduce_the_reference_cleaning_for_every_fixture_case()
    {
        var failures = TokenizerFixture.Compare(output.WriteLine, "cleaned", c => c.Cleaned, c => TextCleaner.Clean(c.Text), s => s);
        Assert.Empty(failures);
    }

    [Theory]
    [InlineData("donâ€™t", "don't")] // UTF-8 read as Windows-1252, then uncurled
    [InlineData("cafÃ© and café", "café and café")] // embedded mojibake in text that does not decode as a whole
    [InlineData("naïve Ångström", "naïve Ångström")] // legitimate Latin-1 stays
    [InlineData("\u0080uro", "€uro")] // C1 control read as Windows-1252
    [InlineData("ｶﾞ", "ガ")] // half-width kana + voiced mark compose after width fixing
    [InlineData("A\u030A\u0323", "Ạ\u030A")] // NFC reorders marks by combining class before composing
    [InlineData("\u1100\u1161\u11A8", "각")] // Hangul jamo compose algorithmically
    [InlineData("x\r\ny\u2028z", "x\ny\nz")]
    [InlineData("&EACUTE;cole &amp x", "École &amp x")] // ftfy: all-caps entity; needs ';'
    [InlineData("<b>&amp;</b>", "<b>&amp;</b>")] // text with '<' is HTML: ftfy leaves entities
    public void FixText_should_apply_ftfy_default_fixers(string text, string expected) =>
        Assert.Equal(expected, TextCleaner.FixText(text));

    [Theory]
    [InlineData("&amp x", "& x")] // legacy entity without ';'
    [InlineData("&notit;", "¬it;")] // longest known prefix
    [InlineData("&#128512 &#x80; &#0; &#1;|", "😀 € \uFFFD |")]
    [InlineData("&#xD800; &#99999999999;", "\uFFFD \uFFFD")]
    [InlineData("&bogus; &#xzz", "&bogus; &#xzz")]
    public void HtmlUnescape_should_follow_python(string text, string expected) =>
        Assert.Equal(expected, TextCleaner.HtmlUnescapeOnce(text));

    [Theory]
    [InlineData("ΟΔΟΣ ΣΑ", "οδος σα")] // final sigma
    [InlineData("İ", "i\u0307")]
    [InlineData(" \u00a0 a \t\n b \u3000", "a b")]
    public void Clean_should_lowercase_and_collapse_whitespace_like_python(string text, string expected) =>
        Assert.Equal(expected, TextCleaner.Clean(text));
}
