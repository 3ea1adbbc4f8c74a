// Ports the text cleaning of uniperceiver/tokenization/tokenization_clip.py:
// whitespace_clean(basic_clean(text)).lower() = ftfy.fix_text, html.unescape twice, strip, \s+ -> ' ', strip, lower.
namespace UniPerceiverMoe.Model.Tokenization;

public static class TextCleaner
{
    /// <summary>The full cleaning applied before pre-tokenization (see <see cref="FixText"/> for ftfy's coverage).</summary>
    public static string Clean(string text)
    {
        var t = FixText(text);
        t = HtmlUnescape.Python(HtmlUnescape.Python(t));
        t = PythonText.Strip(t);
        t = PythonText.Strip(PythonText.CollapseWhitespace(t));
        return PythonText.Lower(t);
    }

    /// <summary>ftfy 6.1.1 fix_text with default settings (the subset documented in Ftfy.cs and Mojibake.cs).</summary>
    public static string FixText(string text) => Ftfy.FixText(text);

    /// <summary>Python's html.unescape.</summary>
    public static string HtmlUnescapeOnce(string text) => HtmlUnescape.Python(text);
}
