using System.Runtime.CompilerServices;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Model.Tasks;

namespace UniPerceiverMoe.Streams.Sources;

/// <summary>A text segment tokenized and tagged with the attribute that fixes its MoE routes.</summary>
public sealed record TaggedText(string Text, IReadOnlyList<int> Ids, MoeAttribute Attribute);

/// <summary>Text inputs: one segment per line (queries, labels), tokenized and route-tagged in the stream.</summary>
public static class TextSources
{
    /// <summary>Non-empty lines of <paramref name="reader"/>, read as the stream pulls.</summary>
    public static Source<string, NotUsed> Lines(TextReader reader) => Source.From(() => ReadLines(reader));

    /// <summary>Tokenizes each line as a target text (text + end-of-text, at most the model's target length) and
    /// tags it with <paramref name="attribute"/> (e.g. <see cref="MoeAttribute.RetrievalTarget"/>).</summary>
    public static Flow<string, TaggedText, NotUsed> Tag(ClipTokenizer tokenizer, MoeAttribute attribute) =>
        Flow.Create<string>().Select(line => new TaggedText(line, tokenizer.EncodeForTarget(line, UniPerceiverTasks.MaxTargetTokens), attribute));

    private static async IAsyncEnumerable<string> ReadLines(TextReader reader, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            if (line.Trim().Length > 0) yield return line.Trim();
    }
}
