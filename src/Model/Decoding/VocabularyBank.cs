// The caption vocabulary bank of CaptionBeamSearcherV3 (pre_computed_word_embeds): every word encoded as a target.
using TorchSharp;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// Rows [V, D]: for each word id v the sequence [spe, v, &lt;|endoftext|&gt;] (positions 0, 1) encoded with the
/// Vocab_Word attribute, spe output → ln_post → proj → L2-normalised. <see cref="Ids"/> maps row → token id
/// (all 0..V-1 for the full bank; a subset for constrained decoding). Owns <see cref="Rows"/>.
/// </summary>
public sealed class VocabularyBank : IDisposable
{
    public const long EndOfText = 49407;

    /// <summary>Tokens of each bank sequence the last encoder layer computes past its qkv projection (for
    /// <see cref="CaptionCost.BankFlops"/>): only the spe row, the one the bank keeps.</summary>
    public const int LastLayerQueries = 1;

    /// <summary>Words per encoder pass: 3 tokens each, so GEMMs of M = 3·batch rows. 256 words (768 rows) keep the GEMMs
    /// large while each activation ([768, 3072] fp32, 9.4 MB) stays under glibc's 32 MB mmap threshold: at 2048 words
    /// every pass mapped its 75 MB activations afresh and a sixth of the build went to page faults. MoE-B, 2 threads:
    /// 100 GFLOP/s at 2048 words, 118–128 at 128–384 (docs/benchmarks.md).</summary>
    public const int DefaultBatchSize = 256;

    public VocabularyBank(Tensor rows, long[] ids)
    {
        if (rows.size(0) != ids.Length) throw new ArgumentException($"bank has {rows.size(0)} rows but {ids.Length} ids.");
        Rows = rows;
        Ids = ids;
    }

    public Tensor Rows { get; }

    /// <summary><see cref="Rows"/> as the weight of the decode step's scores, in panels (built by the first caption).</summary>
    public WeightPanels RowPanels { get; } = new();

    public long[] Ids { get; }

    public int Count => Ids.Length;

    /// <summary>Encodes the bank for <paramref name="ids"/> (all words when null) in batches, reporting progress.</summary>
    /// <exception cref="ArgumentException">A batch size below 1.</exception>
    public static VocabularyBank Build(UniPerceiverRunner runner, long[]? ids = null, int batchSize = DefaultBatchSize,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentException($"the bank batch size must be at least 1 (got {batchSize}).", nameof(batchSize));
        ids ??= Enumerable.Range(0, runner.Model.Config.VocabSize).Select(i => (long)i).ToArray();
        var parts = new List<Tensor>();
        try
        {
            for (int start = 0; start < ids.Length; start += batchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                int n = Math.Min(batchSize, ids.Length - start);
                var pairs = new long[n * 2];
                for (int i = 0; i < n; i++)
                {
                    pairs[2 * i] = ids[start + i];
                    pairs[2 * i + 1] = EndOfText;
                }
                using var tokens = tensor(pairs, [n, 2]);
                using var x = runner.EmbedText(tokens);                                        // [n, 3, D]
                using var encoded = runner.Encode(x, TokenRouting.Uniform(3, MoeAttribute.VocabWord), outputTokens: TokenSpan.First(LastLayerQueries));
                parts.Add(runner.SpeFeature(encoded.Final));                                   // [n, D]
                progress?.Report((start + n, ids.Length));
            }
            return new VocabularyBank(cat(parts, 0), ids);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>The bank restricted to <paramref name="wordIds"/> (constrained decoding); rows are copied.</summary>
    public VocabularyBank Subset(IReadOnlyList<long> wordIds)
    {
        var rowOf = new Dictionary<long, long>(Ids.Length);
        for (int i = 0; i < Ids.Length; i++) rowOf[Ids[i]] = i;
        var rows = wordIds.Select(w => rowOf.TryGetValue(w, out var r) ? r
            : throw new ArgumentException($"word id {w} is not in the vocabulary bank.")).ToArray();
        using var index = tensor(rows, device: Rows.device);
        return new VocabularyBank(Rows.index_select(0, index), wordIds.ToArray());
    }

    /// <summary>Saves rows and ids as safetensors with <paramref name="metadata"/> (e.g. the checkpoint hash).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var idTensor = tensor(Ids);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["rows"] = Rows, ["ids"] = idTensor }, metadata);
    }

    /// <summary>Loads a bank saved by <see cref="Save"/> onto <paramref name="device"/>.</summary>
    public static VocabularyBank Load(string path, Device? device = null)
    {
        var tensors = SafeTensors.Load(path, device);
        try
        {
            if (!tensors.TryGetValue("rows", out var rows) || !tensors.TryGetValue("ids", out var idTensor))
                throw new InvalidDataException($"{path}: not a vocabulary bank (needs tensors 'rows' and 'ids').");
            var ids = idTensor.cpu().data<long>().ToArray();
            idTensor.Dispose();
            return new VocabularyBank(rows, ids);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Rows.Dispose();
        RowPanels.Dispose();
    }
}
