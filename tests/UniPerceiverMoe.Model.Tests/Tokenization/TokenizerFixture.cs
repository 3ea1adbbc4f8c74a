// Loads shared/golden/<set>/tokenizer.json (163 cases from the reference ClipTokenizer) and one tokenizer for all specs.
using System.Text.Json;
using UniPerceiverMoe.TestSupport;
using UniPerceiverMoe.Model.Tokenization;

namespace UniPerceiverMoe.Model.Tests.Tokenization;

public sealed record TokenizerCase(
    string Category, string Text, string FtfyFixed, bool FtfyChangesText, string Cleaned,
    string[] BpeTokens, int[] Ids, int[] IdsWithEot, string Decoded);

public static class TokenizerFixture
{
    private static readonly Lazy<IReadOnlyList<TokenizerCase>> cases = new(LoadCases);
    private static readonly Lazy<ClipTokenizer> tokenizer = new(() => new ClipTokenizer(ClipBpeVocabulary.Load(VocabularyPath)));

    public static IReadOnlyList<TokenizerCase> Cases => cases.Value;

    public static ClipTokenizer Tokenizer => tokenizer.Value;

    /// <summary>&lt;golden dir&gt;/../bpe_simple_vocab_16e6.txt.gz, else whatever VocabularyLocator finds.</summary>
    public static string VocabularyPath
    {
        get
        {
            var beside = Path.GetFullPath(Path.Combine(GoldenFixture.Directory, "..", "bpe_simple_vocab_16e6.txt.gz"));
            return File.Exists(beside) ? beside : VocabularyLocator.Locate();
        }
    }

    private static IReadOnlyList<TokenizerCase> LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(GoldenFixture.File("tokenizer.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new TokenizerCase(
            c.GetProperty("category").GetString()!,
            c.GetProperty("text").GetString()!,
            c.GetProperty("ftfy_fixed").GetString()!,
            c.GetProperty("ftfy_changes_text").GetBoolean(),
            c.GetProperty("cleaned").GetString()!,
            c.GetProperty("bpe_tokens").EnumerateArray().Select(t => t.GetString()!).ToArray(),
            c.GetProperty("ids").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            c.GetProperty("ids_with_eot").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!)).ToList();
    }

    /// <summary>Compares every case, logs each mismatch and a "N/M cases match" summary, and returns the mismatches.</summary>
    public static List<string> Compare<T>(Action<string> log, string what, Func<TokenizerCase, T> expected, Func<TokenizerCase, T> actual,
        Func<T, string> show)
    {
        var failures = new List<string>();
        foreach (var c in Cases)
        {
            var e = expected(c);
            var a = actual(c);
            if (show(e) == show(a)) continue;
            var line = $"[{c.Category}] {Escape(c.Text)}: expected {Escape(show(e))}, got {Escape(show(a))}";
            failures.Add(line);
            log(line);
        }
        log($"{what}: {Cases.Count - failures.Count}/{Cases.Count} cases match");
        return failures;
    }

    public static string Escape(string s) => string.Concat(s.Select(ch =>
        ch is < ' ' or (>= '\x7f' and <= '\xa0') or '\u200b' or '\u200d' or '\u3000' or '\ufeff' ? $"\\u{(int)ch:x4}" : ch.ToString()));
}
