using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Keys and values for incremental decoding of R = B·G rows: G rows (a beam's hypotheses) per input that share the
/// input's prefix. Per layer it holds
/// <list type="bullet">
/// <item>the prefix, [B, H, P, hd], read by all G rows of its input and never copied (not owned); after
/// <see cref="RetainInputs"/> cache input i reads prefix input <see cref="PrefixInput"/>(i);</item>
/// <item>word slots, [R, H, WordCapacity, hd]: a pass with n tokens writes each row's tokens into that row's slots
/// [Length, Length + n), and <see cref="Length"/> words per row are kept;</item>
/// <item>an ancestor table: row r's s-th kept word is in the slots of row <c>Ancestor(r, s)</c>. A beam step that makes
/// row r continue row q's history rewrites r's table entries from q's (<see cref="Reorder"/>); no keys or values
/// move.</item>
/// </list>
/// A pass attends to the row's prefix, its kept words and the current tokens, in that order (what the current
/// tokens may see among themselves is the pass's key bias, over <see cref="KeyCount"/> + n keys). The pass does not
/// advance <see cref="Length"/>: the caller decides which of the written slots stay. Owns its word buffers.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IReadOnlyList<LayerKv> prefix;
    private readonly LayerKv[] words;
    private int[] ancestors;                      // [R · WordCapacity]: slot s of row r is row ancestors[r·cap + s]'s
    private Tensor? ancestorIndex;                // the fallback path's gather index, [R, 1, Length, 1], for `indexed`
    private (int Length, int Version) indexed = (-1, -1);
    private int version;                          // bumped by every Reorder and RetainInputs
    private int[] prefixInputs;                   // [Inputs]: cache input i reads the prefix's input prefixInputs[i]

    /// <param name="prefix">Per layer keys/values [B, H, P, hd] shared by each input's rows; the caller keeps them
    /// alive (and unchanged) while the cache is used.</param>
    /// <param name="rowsPerInput">G: rows b·G … b·G + G − 1 belong to input b.</param>
    /// <param name="wordCapacity">Word slots per row: kept words plus a pass's tokens.</param>
    public KvCache(IReadOnlyList<LayerKv> prefix, int rowsPerInput, int wordCapacity)
    {
        if (prefix.Count == 0) throw new ArgumentException("a key/value cache needs at least one layer.", nameof(prefix));
        if (rowsPerInput < 1) throw new ArgumentOutOfRangeException(nameof(rowsPerInput), rowsPerInput, "must be at least 1.");
        if (wordCapacity < 1) throw new ArgumentOutOfRangeException(nameof(wordCapacity), wordCapacity, "must be at least 1.");
        this.prefix = prefix;
        var k0 = prefix[0].K;
        Inputs = (int)k0.size(0);
        Heads = (int)k0.size(1);
        PrefixLength = (int)k0.size(2);
        HeadDim = (int)k0.size(3);
        RowsPerInput = rowsPerInput;
        WordCapacity = wordCapacity;
        words = new LayerKv[prefix.Count];
        for (int l = 0; l < prefix.Count; l++)
            words[l] = new LayerKv(Buffer(k0.device), Buffer(k0.device));
        ancestors = new int[Rows * wordCapacity];
        for (int r = 0; r < Rows; r++) Array.Fill(ancestors, r, r * wordCapacity, wordCapacity);
        prefixInputs = Enumerable.Range(0, Inputs).ToArray();
    }

    /// <summary>Inputs still decoded (B at first; fewer after <see cref="RetainInputs"/>).</summary>
    public int Inputs { get; private set; }

    /// <summary>The prefix's input (its index in the prefix tensors' first dimension) that cache input
    /// <paramref name="input"/> reads.</summary>
    public int PrefixInput(int input) => prefixInputs[input];

    public int RowsPerInput { get; }

    /// <summary>R = inputs · rows per input.</summary>
    public int Rows => Inputs * RowsPerInput;

    public int Heads { get; }

    public int HeadDim { get; }

    public int PrefixLength { get; }

    public int WordCapacity { get; }

    public int LayerCount => words.Length;

    /// <summary>Words kept per row; a pass appends after them.</summary>
    public int Length { get; set; }

    /// <summary>Keys a row sees before a pass's tokens: its prefix and its kept words.</summary>
    public int KeyCount => PrefixLength + Length;

    /// <summary>The row whose slots hold row <paramref name="row"/>'s word <paramref name="slot"/> (slot &lt; Length).</summary>
    public int Ancestor(int row, int slot) => ancestors[row * WordCapacity + slot];

    /// <summary>Row r continues the history of row sourceRows[r] (of the same input): its kept words become that
    /// row's. Slots from <see cref="Length"/> on stay each row's own.</summary>
    public void Reorder(IReadOnlyList<long> sourceRows)
    {
        if (sourceRows.Count != Rows)
            throw new ArgumentException($"a reorder names a source for each of the {Rows} rows, not {sourceRows.Count}.", nameof(sourceRows));
        var next = (int[])ancestors.Clone();
        for (int r = 0; r < Rows; r++)
        {
            long source = sourceRows[r];
            if (source < 0 || source >= Rows || source / RowsPerInput != r / RowsPerInput)
                throw new ArgumentException($"row {r} cannot continue row {source}: a row continues a row of its own input " +
                    $"(rows {r / RowsPerInput * RowsPerInput}–{r / RowsPerInput * RowsPerInput + RowsPerInput - 1}).", nameof(sourceRows));
            Array.Copy(ancestors, source * WordCapacity, next, r * WordCapacity, Length);
        }
        ancestors = next;
        version++;
    }

    /// <summary>
    /// Keeps only the inputs at positions <paramref name="keep"/> (strictly ascending, of the current numbering), in
    /// that order: their rows' word slots move down to rows 0 … keep.Count·G − 1 (one copy per layer of the kept rows'
    /// slots, which are small next to the prefix), their ancestor entries are renumbered, and the prefix is not copied:
    /// kept input i reads the prefix of the input it was (<see cref="PrefixInput"/>). A search drops its inputs whose
    /// beams have all ended, so that later passes compute only the rows that still decode.
    /// </summary>
    public void RetainInputs(IReadOnlyList<int> keep)
    {
        if (keep.Count == 0) throw new ArgumentException("a cache keeps at least one input.", nameof(keep));
        for (int i = 0; i < keep.Count; i++)
            if (keep[i] < 0 || keep[i] >= Inputs || i > 0 && keep[i] <= keep[i - 1])
                throw new ArgumentException($"inputs to keep must be strictly ascending positions below {Inputs}: [{string.Join(", ", keep)}].", nameof(keep));
        int g = RowsPerInput, cap = WordCapacity;
        var position = new int[Inputs];                       // old input → new input, −1 when dropped
        Array.Fill(position, -1);
        for (int i = 0; i < keep.Count; i++) position[keep[i]] = i;
        var sourceRows = new long[keep.Count * g];
        for (int i = 0; i < keep.Count; i++)
            for (int j = 0; j < g; j++) sourceRows[i * g + j] = (long)keep[i] * g + j;
        using (var rowIndex = tensor(sourceRows, device: words[0].K.device))
            for (int l = 0; l < words.Length; l++)
            {
                var kept = new LayerKv(words[l].K.index_select(0, rowIndex).DetachFromDisposeScope(),
                    words[l].V.index_select(0, rowIndex).DetachFromDisposeScope());
                words[l].Dispose();
                words[l] = kept;
            }
        var next = new int[sourceRows.Length * cap];
        for (int r = 0; r < sourceRows.Length; r++)
            for (int slot = 0; slot < cap; slot++)
            {
                // A holder row is of the same input as the row it serves, so it is kept too.
                int holder = ancestors[(int)sourceRows[r] * cap + slot];
                next[r * cap + slot] = position[holder / g] * g + holder % g;
            }
        ancestors = next;
        prefixInputs = keep.Select(i => prefixInputs[i]).ToArray();
        Inputs = keep.Count;
        version++;
    }

    /// <summary>
    /// One layer's attention for a pass: writes k, v [R, H, n, hd] into each row's slots [Length, Length + n) and
    /// returns the context [R, m, H·hd] of q [R, H, m, hd] over the row's prefix, kept words and all n current tokens,
    /// with <paramref name="keyBias"/> broadcastable to [R, H, m, KeyCount + n] (or null). Usually m = n; a pass that
    /// needs the output of only some of its tokens (m &lt; n) passes just their queries and those queries' bias rows.
    /// </summary>
    public Tensor Attend(int layer, Tensor q, Tensor k, Tensor v, Tensor? keyBias)
    {
        int n = CheckPass(q, k);
        var slots = words[layer];
        bool kernel = SharedPrefixAttention.Handles(q, prefix[layer], slots, KeyCount + n, keyBias);
        if (kernel && KvSlotWriter.Handles(k, slots.K) && KvSlotWriter.Handles(v, slots.V))
            // Each (input, head) unit writes its rows' slots and then reads them, on one thread.
            return SharedPrefixAttention.Apply(q, prefix[layer], slots, this, n, keyBias, k, v);
        Write(layer, k, v, n);
        return kernel ? SharedPrefixAttention.Apply(q, prefix[layer], slots, this, n, keyBias) : Materialized(layer, q, n, keyBias);
    }

    /// <summary>As <see cref="Attend"/>, always through libtorch's attention over gathered keys (the path of devices
    /// and cases the CPU kernel does not handle); for specs that hold the two paths against each other.</summary>
    internal Tensor AttendMaterialized(int layer, Tensor q, Tensor k, Tensor v, Tensor? keyBias)
    {
        int n = CheckPass(q, k);
        Write(layer, k, v, n);
        return Materialized(layer, q, n, keyBias);
    }

    /// <summary>The pass's token count n, once its keys and queries fit this cache.</summary>
    private int CheckPass(Tensor q, Tensor k)
    {
        int n = (int)k.size(2);
        if (k.size(0) != Rows || Length + n > WordCapacity)
            throw new ArgumentException($"a pass of {k.size(0)} rows × {n} tokens does not fit this cache " +
                $"({Rows} rows, {Length} of {WordCapacity} word slots kept).", nameof(k));
        if (q.size(0) != Rows || q.size(2) < 1 || q.size(2) > n)
            throw new ArgumentException($"a pass's queries [{q.size(0)} rows × {q.size(2)}] must be {Rows} rows of 1 to {n} of its tokens.", nameof(q));
        return n;
    }

    /// <summary>Writes the pass's n keys/values into each row's slots [Length, Length + n).</summary>
    private void Write(int layer, Tensor k, Tensor v, int n)
    {
        var slots = words[layer];
        if (KvSlotWriter.Handles(k, slots.K) && KvSlotWriter.Handles(v, slots.V))
        {
            KvSlotWriter.Write(k, slots.K, Length);
            KvSlotWriter.Write(v, slots.V, Length);
            return;
        }
        using (var kSlot = slots.K.narrow(2, Length, n)) kSlot.copy_(k);
        using (var vSlot = slots.V.narrow(2, Length, n)) vSlot.copy_(v);
    }

    /// <summary>Any device: every row's keys and values gathered into one tensor, then libtorch's attention.</summary>
    private Tensor Materialized(int layer, Tensor q, int n, Tensor? keyBias)
    {
        using var scope = NewDisposeScope();
        var device = q.device;
        using var rowInput = tensor(Enumerable.Range(0, Rows).Select(r => (long)prefixInputs[r / RowsPerInput]).ToArray(), device: device);
        var index = AncestorIndex(device);
        Tensor Gather(Tensor prefixPart, Tensor slots)
        {
            var perRow = prefixPart.index_select(0, rowInput);                                     // [R, H, P, hd]
            var kept = slots.narrow(2, 0, Length).gather(0, index.expand(Rows, Heads, Length, HeadDim));
            return cat([perRow, kept, slots.narrow(2, Length, n)], 2);                               // [R, H, P + Length + n, hd]
        }
        var keys = Gather(prefix[layer].K, words[layer].K);
        var values = Gather(prefix[layer].V, words[layer].V);
        var context = nn.functional.scaled_dot_product_attention(q, keys, values, keyBias);        // [R, H, m, hd]
        return context.transpose(1, 2).reshape(Rows, q.size(2), Heads * HeadDim).MoveToOuterDisposeScope();
    }

    private Tensor AncestorIndex(Device device)
    {
        if (ancestorIndex is not null && indexed == (Length, version) && ancestorIndex.device == device) return ancestorIndex;
        ancestorIndex?.Dispose();
        var table = new long[Rows * Length];
        for (int r = 0; r < Rows; r++)
            for (int s = 0; s < Length; s++) table[r * Length + s] = Ancestor(r, s);
        ancestorIndex = tensor(table, [Rows, 1, Length, 1], device: device).DetachFromDisposeScope();
        indexed = (Length, version);
        return ancestorIndex;
    }

    /// <summary>The cache outlives the dispose scope it may be created in: it releases its buffers itself.</summary>
    private Tensor Buffer(Device device) =>
        empty(Rows, Heads, WordCapacity, HeadDim, device: device).DetachFromDisposeScope();

    public void Dispose()
    {
        foreach (var kv in words) kv.Dispose();
        ancestorIndex?.Dispose();
    }
}
