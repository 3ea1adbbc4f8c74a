// Specs for ClipBpeVocabulary (vocabulary order of the reference ClipTokenizer) and VocabularyLocator.
using System.IO.Compression;
using UniPerceiverMoe.Model.Tokenization;

namespace UniPerceiverMoe.Model.Tests.Tokenization;

public sealed class ClipBpeVocabularySpecs
{
    private static readonly Lazy<ClipBpeVocabulary> vocabulary = new(() => ClipBpeVocabulary.Load(TokenizerFixture.VocabularyPath));

    [Fact]
    public void Vocabulary_should_have_49411_entries_in_reference_order()
    {
        var v = vocabulary.Value;
        Assert.Equal(49411, v.Tokens.Count);
        Assert.Equal("!", v.Tokens[0]);
        Assert.Equal("a", v.Tokens[64]); // byte-unicode dict order, not byte-value order
        Assert.Equal(320, v.Ids["a</w>"]);
        Assert.Equal("\u0100", v.Tokens[188]); // byte 0x00, the first unprintable byte
        Assert.Equal("<|startoftext|>", v.Tokens[49406]);
        Assert.Equal("<|spe|>", v.Tokens[49410]);
        Assert.Equal(48894, v.Merges.Count);
    }

    [Fact]
    public void Load_should_read_plain_text_and_gzip_alike()
    {
        var plain = Path.Combine(Path.GetTempPath(), $"upmoe-vocab-{Guid.NewGuid():N}.txt");
        var gzip = plain + ".gz";
        try
        {
            // Whatever form the source has, write it out in both forms.
            var source = File.ReadAllBytes(TokenizerFixture.VocabularyPath);
            using (Stream input = source is [0x1F, 0x8B, ..]
                       ? new GZipStream(new MemoryStream(source), CompressionMode.Decompress) : new MemoryStream(source))
            using (var file = File.Create(plain))
                input.CopyTo(file);
            using (var input = File.OpenRead(plain))
            using (var gz = new GZipStream(File.Create(gzip), CompressionLevel.Fastest))
                input.CopyTo(gz);
            Assert.Equal(vocabulary.Value.Tokens, ClipBpeVocabulary.Load(plain).Tokens);
            Assert.Equal(vocabulary.Value.Tokens, ClipBpeVocabulary.Load(gzip).Tokens);
        }
        finally
        {
            File.Delete(plain);
            File.Delete(gzip);
        }
    }

    [Fact]
    public void Load_should_reject_a_file_that_is_not_a_merges_file()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"upmoe-vocab-{Guid.NewGuid():N}.txt");
        try
        {
            File.WriteAllText(bad, "#version: 0.2\nh e\n");
            var ex = Assert.Throws<InvalidDataException>(() => ClipBpeVocabulary.Load(bad));
            Assert.Contains("48894", ex.Message);
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public void Locator_should_explain_how_to_fetch_a_missing_file()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => VocabularyLocator.Locate("/nonexistent/bpe.txt"));
        Assert.Contains("scripts/fetch-clip-vocab.sh", ex.Message);
        Assert.Contains(VocabularyLocator.EnvironmentVariable, ex.Message);
    }

    [Fact]
    public void Locator_should_return_an_existing_explicit_path() =>
        Assert.Equal(TokenizerFixture.VocabularyPath, VocabularyLocator.Locate(TokenizerFixture.VocabularyPath));
}
