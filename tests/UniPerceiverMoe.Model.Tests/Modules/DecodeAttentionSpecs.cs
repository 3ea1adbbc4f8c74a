using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Modules;
using TorchSharp;
using Xunit;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="DecodeAttention"/>: a few queries against a key/value cache must compute libtorch's
/// scaled_dot_product_attention (to float rounding) for the views a decode pass hands it (a narrowed cache, permuted
/// queries, broadcast biases with −∞), give a row the same bits alone and in a batch and with one or two threads, and
/// decline what it does not handle.
/// </summary>
public sealed class DecodeAttentionSpecs
{
    private static Generator Seeded(long seed) => new Generator((ulong)seed);

    /// <summary>Same shape and the same bits.</summary>
    private static bool Same(Tensor a, Tensor b)
    {
        using var equal = a.eq(b);
        using var all = equal.all();
        return a.shape.SequenceEqual(b.shape) && all.item<bool>();
    }

    /// <summary>libtorch's attention, merged to [B, N, H·hd] as the kernel returns it.</summary>
    private static Tensor Reference(Tensor q, Tensor k, Tensor v, Tensor? bias)
    {
        using var ctx = nn.functional.scaled_dot_product_attention(q, k, v, bias);
        using var transposed = ctx.transpose(1, 2);
        return transposed.reshape(q.shape[0], q.shape[2], q.shape[1] * q.shape[3]);
    }

    /// <summary>A decode pass's operands: queries permuted out of a qkv projection, keys/values the first
    /// <paramref name="keys"/> slots of a larger cache.</summary>
    private static (Tensor Q, Tensor K, Tensor V) DecodeOperands(int rows, int heads, int queries, int keys, int headDim, long seed)
    {
        var g = Seeded(seed);
        using var qkv = randn([rows, queries, 3, heads, headDim], generator: g);
        using var perHead = qkv.permute(2, 0, 3, 1, 4);
        var q = perHead[0];
        using var cacheK = randn([rows, heads, keys + 7, headDim], generator: g);
        using var cacheV = randn([rows, heads, keys + 7, headDim], generator: g);
        return (q, cacheK.narrow(2, 0, keys), cacheV.narrow(2, 0, keys));
    }

    /// <summary>No bias; −∞ on the last key for every query (a word must not see the next query); or −10000 on a
    /// random fifth of each row's keys, broadcast over heads and queries (padding).</summary>
    private static Tensor? Bias(string kind, int rows, int queries, int keys)
    {
        switch (kind)
        {
            case "word cannot see query":
                using (var last = tensor(new long[] { keys - 1 }))
                    return TorchScalar.Use(float.NegativeInfinity, inf => zeros(1, 1, queries, keys).index_fill_(3, last, inf));
            case "per-row padding":
                using (var draw = rand(rows, 1, 1, keys, generator: Seeded(5)))
                using (var padded = TorchScalar.Use(0.2, p => draw.lt(p)))
                using (var asFloat = padded.to_type(ScalarType.Float32))
                using (var scaled = TorchScalar.Use(-10000f, m => asFloat.mul(m)))
                    return scaled.expand(rows, 1, queries, keys);
            default:
                return null;
        }
    }

    public static TheoryData<string> Biases => new() { "none", "word cannot see query", "per-row padding" };

    [Theory]
    [MemberData(nameof(Biases))]
    public void It_should_match_scaled_dot_product_attention(string biasKind)
    {
        using var _ = no_grad();
        foreach (var (rows, heads, queries, keys, headDim) in new[] { (2, 12, 2, 218, 64), (16, 4, 1, 70, 16), (3, 2, 4, 9, 8) })
        {
            var (q, k, v) = DecodeOperands(rows, heads, queries, keys, headDim, rows * 100 + keys);
            using var bias = Bias(biasKind, rows, queries, keys);
            using (q) using (k) using (v)
            {
                Assert.True(DecodeAttention.Handles(q, k, v, bias));
                using var expected = Reference(q, k, v, bias);
                using var actual = DecodeAttention.Apply(q, k, v, bias);
                Assert.Equal(expected.shape, actual.shape);
                Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), $"{biasKind} {rows}x{heads}x{queries}x{keys}x{headDim}: max diff {TensorAssert.MaxAbsDifference(expected, actual)}");
            }
        }
    }

    [Fact]
    public void A_row_should_get_the_same_bits_alone_in_a_batch_and_with_any_thread_count()
    {
        using var _ = no_grad();
        var (q, k, v) = DecodeOperands(16, 12, 2, 230, 64, 21);
        int threads = get_num_threads();
        try
        {
            using (q) using (k) using (v)
            {
                set_num_threads(2);
                using var batched = DecodeAttention.Apply(q, k, v, null);
                set_num_threads(1);
                using var oneThread = DecodeAttention.Apply(q, k, v, null);
                Assert.True(Same(batched, oneThread), "one and two threads gave different bits");
                for (int r = 0; r < 16; r++)
                {
                    using var alone = DecodeAttention.Apply(q.narrow(0, r, 1), k.narrow(0, r, 1), v.narrow(0, r, 1), null);
                    using var inBatch = batched.narrow(0, r, 1);
                    Assert.True(Same(alone, inBatch), $"row {r} alone differs from row {r} in the batch");
                }
            }
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Theory]
    [InlineData(8, 1, false, "none")]                                          // a caption's first query: one prefix per row
    [InlineData(8, 1, true, "per-row padding")]                                // one prefix for every row (broadcast)
    [InlineData(3, 2, false, "word cannot see query")]
    public void A_prefix_read_in_place_gives_the_bits_of_the_concatenated_keys(int rows, int queries, bool sharedPrefix, string biasKind)
    {
        using var _ = no_grad();
        var g = Seeded(rows * 10 + queries);
        using var qkv = randn([rows, queries, 3, 12, 64], generator: g);
        using var perHead = qkv.permute(2, 0, 3, 1, 4);                          // [3, B, H, N, hd]: the pass's own
        using var q = perHead[0];
        using var k = perHead[1];
        using var v = perHead[2];
        using var prefixK = randn([sharedPrefix ? 1 : rows, 12, 197, 64], generator: g);
        using var prefixV = randn([sharedPrefix ? 1 : rows, 12, 197, 64], generator: g);
        using var bias = Bias(biasKind, rows, queries, 197 + queries);
        using var pk = prefixK.expand(rows, -1, -1, -1);
        using var pv = prefixV.expand(rows, -1, -1, -1);
        using var keys = cat([pk, k], 2);
        using var values = cat([pv, v], 2);
        int threads = get_num_threads();
        try
        {
            set_num_threads(2);                                                     // the heads split over two threads
            Assert.True(DecodeAttention.Handles(q, prefixK, prefixV, k, v, bias));
            using var concatenated = DecodeAttention.Apply(q, keys, values, bias);
            using var inPlace = DecodeAttention.Apply(q, prefixK, prefixV, k, v, bias);
            Assert.True(Same(concatenated, inPlace), "the prefix read in place changed the bits");
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Fact]
    public void It_should_decline_many_queries_odd_head_sizes_and_autograd()
    {
        var (q, k, v) = DecodeOperands(1, 2, DecodeAttention.MaxQueries + 1, 10, 8, 3);
        using (q) using (k) using (v) Assert.False(DecodeAttention.Handles(q, k, v, null));
        var (q2, k2, v2) = DecodeOperands(1, 2, 2, 10, 12, 4);                      // 12: not whole 256-bit vectors
        using (q2) using (k2) using (v2) Assert.False(DecodeAttention.Handles(q2, k2, v2, null));
        var (q3, k3, v3) = DecodeOperands(1, 2, 2, 10, 8, 5);
        using (q3) using (k3) using (v3)
        {
            using var trained = q3.detach().requires_grad_();
            Assert.False(DecodeAttention.Handles(trained, k3, v3, null));
            using var wrongBias = zeros(1, 1, 2, 11);                                   // one key too many
            Assert.False(DecodeAttention.Handles(q3, k3, v3, wrongBias));
        }
    }
}
