using UniPerceiverMoe.Model.Modules;
using Xunit;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="KvCache"/>: beams share their input's prefix and follow their ancestors' words through a table. Each
/// pass must give every row the bits <see cref="DecodeAttention"/> gives over that row's keys laid out in one row
/// (the prefix, then its history's words, then the current tokens), which is what the cache with copied prefixes and
/// moved words computed before; the materialized path (devices other than the CPU) must agree to float rounding;
/// a pass that queries only its last token (a decode step's last layer) gets that token's bits of the full pass;
/// a reorder across inputs and a pass that does not fit are refused by name.
/// </summary>
public sealed class KvCacheSpecs
{
    private const int Inputs = 2, Heads = 3, PrefixLength = 11, Passes = 4;

    private static bool Same(Tensor a, Tensor b)
    {
        using var equal = a.eq(b);
        using var all = equal.all();
        return a.shape.SequenceEqual(b.shape) && all.item<bool>();
    }

    private static LayerKv[] RandomPrefix(int layers, int headDim, Generator g) =>
        Enumerable.Range(0, layers).Select(_ => new LayerKv(
            randn([Inputs, Heads, PrefixLength, headDim], generator: g), randn([Inputs, Heads, PrefixLength, headDim], generator: g))).ToArray();

    /// <summary>The beam searcher's bias for a two-token pass: the word (query 0) does not see the next query (the last key).</summary>
    private static Tensor WordCannotSeeQuery(int keys)
    {
        var bias = zeros(1, 1, 2, keys);
        using var last = bias.narrow(2, 0, 1).narrow(3, keys - 1, 1);
        TorchScalar.Use(float.NegativeInfinity, inf => last.fill_(inf));
        return bias;
    }

    /// <summary>Beam-like reorders: every row continues some row of its own input.</summary>
    private static long[] Reorder(int rowsPerInput, int pass) =>
        Enumerable.Range(0, Inputs * rowsPerInput)
            .Select(r => (long)(r / rowsPerInput * rowsPerInput + (r * 7 + pass * 3) % rowsPerInput)).ToArray();

    [Theory]
    [InlineData(2, 64, 2)]
    [InlineData(3, 16, 1)]
    [InlineData(1, 64, 1)]
    public void Each_row_should_get_the_bits_of_its_keys_laid_out_in_one_row(int rowsPerInput, int headDim, int threads)
    {
        using var _ = no_grad();
        int saved = get_num_threads();
        set_num_threads(threads);
        var g = new Generator(40 + (ulong)(rowsPerInput * headDim));
        var prefix = RandomPrefix(1, headDim, g);
        int rows = Inputs * rowsPerInput;
        using var cache = new KvCache(prefix, rowsPerInput, Passes + 1);
        // The reference keeps each row's history physically: words[r] is the list of (k, v) [H, 1, hd] of its words.
        var history = Enumerable.Range(0, rows).Select(_ => new List<(Tensor K, Tensor V)>()).ToArray();
        var written = new List<Tensor>();
        try
        {
            for (int pass = 0; pass < Passes; pass++)
            {
                if (pass > 0)
                {
                    var sources = Reorder(rowsPerInput, pass);
                    cache.Reorder(sources);
                    history = sources.Select(s => history[s].ToList()).ToArray();
                }
                using var q = randn([rows, Heads, 2, headDim], generator: g);
                using var k = randn([rows, Heads, 2, headDim], generator: g);
                using var v = randn([rows, Heads, 2, headDim], generator: g);
                using var bias = WordCannotSeeQuery(cache.KeyCount + 2);
                using var actual = cache.Attend(0, q, k, v, bias);
                for (int r = 0; r < rows; r++)
                {
                    using var rowKeys = cat([prefix[0].K[r / rowsPerInput], .. history[r].Select(w => w.K), k[r]], 1).unsqueeze(0);
                    using var rowValues = cat([prefix[0].V[r / rowsPerInput], .. history[r].Select(w => w.V), v[r]], 1).unsqueeze(0);
                    using var rowQ = q.narrow(0, r, 1);
                    using var expected = DecodeAttention.Apply(rowQ, rowKeys, rowValues, bias);
                    using var got = actual.narrow(0, r, 1);
                    Assert.True(Same(expected, got), $"pass {pass}, row {r}: the shared-prefix cache's bits differ from the row's own keys");
                }
                for (int r = 0; r < rows; r++)
                {
                    var word = (K: k[r].narrow(1, 0, 1).clone(), V: v[r].narrow(1, 0, 1).clone());
                    history[r].Add(word);
                    written.AddRange([word.K, word.V]);
                }
                cache.Length += 1;                                  // keep the word, drop the query
            }
        }
        finally
        {
            set_num_threads(saved);
            foreach (var kv in prefix) kv.Dispose();
            foreach (var t in written) t.Dispose();
        }
    }

    /// <summary>Two caches of 2 rows per input over one random prefix, fed the same beam-like reorders and the same
    /// random two-token passes; <paramref name="pass"/> gets (pass number, the caches, q, k, v, bias) and runs each
    /// cache's attention; both then keep the word.</summary>
    private static void TwoCachesInStep(ulong seed, Action<int, KvCache, KvCache, Tensor, Tensor, Tensor, Tensor> pass)
    {
        using var _ = no_grad();
        var g = new Generator(seed);
        var prefix = RandomPrefix(1, 64, g);
        using var first = new KvCache(prefix, 2, Passes + 1);
        using var second = new KvCache(prefix, 2, Passes + 1);
        try
        {
            for (int p = 0; p < Passes; p++)
            {
                if (p > 0)
                {
                    first.Reorder(Reorder(2, p));
                    second.Reorder(Reorder(2, p));
                }
                using var q = randn([Inputs * 2, Heads, 2, 64], generator: g);
                using var k = randn([Inputs * 2, Heads, 2, 64], generator: g);
                using var v = randn([Inputs * 2, Heads, 2, 64], generator: g);
                using var bias = WordCannotSeeQuery(first.KeyCount + 2);
                pass(p, first, second, q, k, v, bias);
                first.Length += 1;
                second.Length += 1;
            }
        }
        finally
        {
            foreach (var kv in prefix) kv.Dispose();
        }
    }

    [Fact]
    public void The_materialized_path_should_agree_with_the_cpu_kernel() =>
        TwoCachesInStep(7, (pass, fast, materialized, q, k, v, bias) =>
        {
            using var expected = materialized.AttendMaterialized(0, q, k, v, bias);
            using var actual = fast.Attend(0, q, k, v, bias);
            Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5),
                $"pass {pass}: max difference {TensorAssert.MaxAbsDifference(expected, actual)}");
        });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_pass_that_queries_only_its_last_token_should_give_that_token_the_bits_of_the_full_pass_and_keep_every_token(bool materialized)
    {
        Tensor Attend(KvCache cache, Tensor q, Tensor k, Tensor v, Tensor bias) =>
            materialized ? cache.AttendMaterialized(0, q, k, v, bias) : cache.Attend(0, q, k, v, bias);
        TwoCachesInStep(13, (pass, full, lastOnly, q, k, v, bias) =>
        {
            if (pass == 0)
            {
                using var q3 = zeros(Inputs * 2, Heads, 3, 64);
                var tooMany = Assert.Throws<ArgumentException>(() => lastOnly.Attend(0, q3, k, v, null));
                Assert.Contains("1 to 2 of its tokens", tooMany.Message);
            }
            using var both = Attend(full, q, k, v, bias);
            using var lastQ = q.narrow(2, 1, 1);
            using var lastBias = bias.narrow(2, 1, 1);
            using var last = Attend(lastOnly, lastQ, k, v, lastBias);
            using var expected = both.narrow(1, 1, 1);
            // Later passes read the words this pass wrote: agreement there shows both tokens' keys were kept. The CPU
            // kernel gives the same bits; libtorch's attention (the materialized path) only agrees to rounding.
            Assert.True(materialized ? last.allclose(expected, rtol: 1e-5, atol: 1e-6) : Same(expected, last),
                $"pass {pass}: the last query alone differs from its row in the full pass");
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void After_dropping_an_input_each_kept_row_should_get_the_bits_it_gets_in_the_cache_that_keeps_every_input(bool materialized)
    {
        using var _ = no_grad();
        const int inputs = 3, group = 2, rows = inputs * group, hd = 64;
        var g = new Generator(31);
        var prefix = Enumerable.Range(0, 2).Select(_ => new LayerKv(
            randn([inputs, Heads, PrefixLength, hd], generator: g), randn([inputs, Heads, PrefixLength, hd], generator: g))).ToArray();
        using var all = new KvCache(prefix, group, Passes + 1);
        using var dropping = new KvCache(prefix, group, Passes + 1);
        int[] kept = [0, 2];
        using var keptRows = tensor(kept.SelectMany(i => Enumerable.Range(i * group, group)).Select(r => (long)r).ToArray());
        Tensor Attend(KvCache cache, int layer, Tensor q, Tensor k, Tensor v, Tensor bias) =>
            materialized ? cache.AttendMaterialized(layer, q, k, v, bias) : cache.Attend(layer, q, k, v, bias);
        try
        {
            for (int pass = 0; pass < Passes; pass++)
            {
                // Beam-like reorders (row r continues the other row of its input on odd passes), the same for both.
                var sources = Enumerable.Range(0, rows).Select(r => (long)(pass % 2 == 1 ? r ^ 1 : r)).ToArray();
                if (pass > 0) all.Reorder(sources);
                // As a search does: reorder every row, then drop the ended input; later reorders name the kept rows
                // (rows 0–3 are old rows 0, 1, 4, 5, so r ^ 1 is the same pattern).
                if (pass is 1 or 2) dropping.Reorder(sources);
                if (pass > 2) dropping.Reorder(sources.Take(kept.Length * group).ToArray());
                if (pass == 2)
                {
                    dropping.RetainInputs(kept);
                    Assert.Equal(kept.Length, dropping.Inputs);
                    Assert.Equal(2, dropping.PrefixInput(1));
                }
                using var q = randn([rows, Heads, 2, hd], generator: g);
                using var k = randn([rows, Heads, 2, hd], generator: g);
                using var v = randn([rows, Heads, 2, hd], generator: g);
                using var bias = WordCannotSeeQuery(all.KeyCount + 2);
                for (int layer = 0; layer < 2; layer++)
                {
                    using var expected = Attend(all, layer, q, k, v, bias);
                    if (pass < 2)
                    {
                        Attend(dropping, layer, q, k, v, bias).Dispose();
                        continue;
                    }
                    using var keptQ = q.index_select(0, keptRows);
                    using var keptK = k.index_select(0, keptRows);
                    using var keptV = v.index_select(0, keptRows);
                    using var actual = Attend(dropping, layer, keptQ, keptK, keptV, bias);
                    using var expectedKept = expected.index_select(0, keptRows);
                    Assert.True(Same(expectedKept, actual), $"pass {pass}, layer {layer}: a kept row's attention changed when an input left");
                }
                all.Length += 1;
                dropping.Length += 1;
            }
            var unordered = Assert.Throws<ArgumentException>(() => dropping.RetainInputs([1, 0]));
            Assert.Contains("strictly ascending", unordered.Message);
            Assert.Throws<ArgumentException>(() => dropping.RetainInputs([]));
        }
        finally
        {
            foreach (var kv in prefix) kv.Dispose();
        }
    }

    [Fact]
    public void It_should_refuse_a_reorder_across_inputs_and_a_pass_that_does_not_fit()
    {
        using var _ = no_grad();
        var prefix = RandomPrefix(1, 16, new Generator(9));
        using var cache = new KvCache(prefix, 2, 2);
        try
        {
            var across = Assert.Throws<ArgumentException>(() => cache.Reorder([0, 2, 2, 3]));
            Assert.Contains("row 1 cannot continue row 2", across.Message);
            var short_ = Assert.Throws<ArgumentException>(() => cache.Reorder([0, 1]));
            Assert.Contains("each of the 4 rows", short_.Message);
            using var q = zeros(4, Heads, 3, 16);
            var tooLong = Assert.Throws<ArgumentException>(() => cache.Attend(0, q, q, q, null));
            Assert.Contains("does not fit", tooLong.Message);
        }
        finally
        {
            foreach (var kv in prefix) kv.Dispose();
        }
    }
}
