using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Model.Tasks;

namespace UniPerceiverMoe.Streams.Sources;

/// <summary>A text segment tokenized and tagged with the attribute that fixes its MoE routes.</summary>
public sealed record TaggedText(string Text, IReadOnlyList<int> Ids, MoeAttribute Attribute);

/// <summary>Text inputs: one segment per line (queries, labels, a text feed's texts), tokenized and route-tagged in
/// the stream. Feeds: a reader (stdin), a file being appended to, or a TCP socket that clients write lines to.</summary>
public static class TextSources
{
    /// <summary>Non-empty lines of <paramref name="reader"/>, read as the stream pulls.</summary>
    public static Source<string, NotUsed> Lines(TextReader reader) => Source.From(() => ReadLines(reader));

    /// <summary>The lines of <paramref name="path"/>, then every line appended to it later (checked every
    /// <paramref name="poll"/>), until the stream is stopped: <c>tail -f</c>. A partial last line waits for its newline.
    /// A file truncated or replaced under the feed is read again from its start.</summary>
    public static Source<string, NotUsed> FollowFile(string path, TimeSpan poll)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"text feed file not found: {path}", path);
        return Source.From(() => Follow(path, poll));
    }

    /// <summary>Lines written by TCP clients to <paramref name="endpoint"/> (each connection read line by line, any
    /// number of clients one after another or at once), until the stream is stopped. <paramref name="bound"/> receives
    /// the bound endpoint (port 0 picks a free one).</summary>
    public static Source<string, NotUsed> TcpLines(IPEndPoint endpoint, Action<IPEndPoint>? bound = null) =>
        Source.From(() => Listen(endpoint, bound));

    /// <summary>
    /// A text feed named on the command line: <c>-</c> (stdin), <c>tcp://HOST:PORT</c> (listen there), or the path of
    /// a file being appended to. Throws <see cref="ArgumentException"/> naming the feed when it cannot be opened.
    /// </summary>
    public static Source<string, NotUsed> Open(string feed, TextReader stdin, Action<IPEndPoint>? bound = null)
    {
        if (feed == "-") return Lines(stdin);
        if (feed.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            if (!IPEndPoint.TryParse(feed["tcp://".Length..], out var endpoint) || endpoint.Port == 0 && !feed.EndsWith(":0", StringComparison.Ordinal))
                throw new ArgumentException($"text feed {feed}: expected tcp://ADDRESS:PORT (e.g. tcp://127.0.0.1:7070).");
            return TcpLines(endpoint, bound);
        }
        if (!File.Exists(feed)) throw new ArgumentException($"text feed {feed}: no such file (give -, tcp://ADDRESS:PORT or a file).");
        return FollowFile(feed, TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Tokenizes each line as a target text (text + end-of-text, at most the model's target length) and
    /// tags it with <paramref name="attribute"/> (e.g. <see cref="MoeAttribute.RetrievalTarget"/>).</summary>
    public static Flow<string, TaggedText, NotUsed> Tag(ClipTokenizer tokenizer, MoeAttribute attribute) =>
        Flow.Create<string>().Select(line => new TaggedText(line, tokenizer.EncodeForTarget(line, UniPerceiverTasks.MaxTargetTokens), attribute));

    private static async IAsyncEnumerable<string> Follow(string path, TimeSpan poll, [EnumeratorCancellation] CancellationToken ct = default)
    {
        long offset = 0;
        var pending = new StringBuilder();
        var buffer = new byte[64 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        while (!ct.IsCancellationRequested)
        {
            await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                if (file.Length < offset) { offset = 0; pending.Clear(); decoder.Reset(); }   // truncated or replaced
                file.Seek(offset, SeekOrigin.Begin);
                int read;
                while ((read = await file.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    offset += read;
                    pending.Append(chars, 0, decoder.GetChars(buffer, 0, read, chars, 0));
                }
            }
            string text = pending.ToString();
            int end = text.LastIndexOf('\n');
            if (end >= 0)
            {
                pending.Clear().Append(text, end + 1, text.Length - end - 1);
                foreach (var line in text[..end].Split('\n'))
                    if (line.Trim().Length > 0) yield return line.Trim();
            }
            await Task.Delay(poll, ct).ConfigureAwait(false);
        }
    }

    private static async IAsyncEnumerable<string> Listen(IPEndPoint endpoint, Action<IPEndPoint>? bound, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var listener = new TcpListener(endpoint);
        listener.Start();
        bound?.Invoke((IPEndPoint)listener.LocalEndpoint);
        var lines = Channel.CreateBounded<string>(64);
        var accepting = Task.Run(async () =>
        {
            var clients = new List<Task>();
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var client = await listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
                    clients.Add(Task.Run(async () =>
                    {
                        using var _ = client;
                        using var reader = new StreamReader(client.GetStream(), Encoding.UTF8);
                        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
                            if (line.Trim().Length > 0) await lines.Writer.WriteAsync(line.Trim(), ct).ConfigureAwait(false);
                    }, ct));
                }
            }
            catch (OperationCanceledException)
            {
            }
            lines.Writer.TryComplete();
        }, ct);
        await foreach (var line in lines.Reader.ReadAllAsync(ct).ConfigureAwait(false)) yield return line;
        await accepting.ConfigureAwait(false);
    }

    private static async IAsyncEnumerable<string> ReadLines(TextReader reader, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            if (line.Trim().Length > 0) yield return line.Trim();
    }
}
