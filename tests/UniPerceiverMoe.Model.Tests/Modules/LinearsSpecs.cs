using UniPerceiverMoe.Model.Modules;
using TorchSharp;
using Xunit;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="Linears"/>: products of up to <see cref="Linears.SmallBatchMaxRows"/> rows go through the small-product
/// kernel (<see cref="PanelLinear"/> with 512-bit vectors); it must compute libtorch's linear (to float rounding), give
/// a row the same bits alone and in a batch, with one or two threads, and with or without the weight's prebuilt
/// panels, never read panels of other values, and leave autograd and larger products to libtorch.
/// </summary>
public sealed class LinearsSpecs
{
    private static Generator Seeded(long seed) => new Generator((ulong)seed);

    /// <summary>Same shape and the same bits.</summary>
    private static bool Same(Tensor a, Tensor b)
    {
        using var equal = a.eq(b);
        using var all = equal.all();
        return a.shape.SequenceEqual(b.shape) && all.item<bool>();
    }

    [Theory]
    [InlineData(1, 768, 2304, true)]
    [InlineData(4, 768, 3072, true)]
    [InlineData(8, 3072, 768, false)]
    [InlineData(3, 70, 33, true)]          // K neither a multiple of 16 nor of 8: the scalar tail
    [InlineData(5, 7, 4, false)]
    [InlineData(9, 3072, 769, true)]       // more than four rows: two W rows at a time, the odd last one alone
    [InlineData(17, 70, 33, true)]
    [InlineData(64, 768, 2304, false)]
    public void Small_products_should_match_libtorch_linear(int rows, int k, int n, bool withBias)
    {
        using var _ = no_grad();
        var g = Seeded(rows * 1000 + k);
        using var x = randn(rows, k, generator: g);
        using var w = randn(n, k, generator: g);
        using var b = withBias ? randn(n, generator: g) : null;

        using var expected = nn.functional.linear(x, w, b);
        using var actual = Linears.Apply(x, w, b);

        Assert.Equal(expected.shape, actual.shape);
        float scale = (float)TensorAssert.MaxAbs(expected);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5 * scale), $"max diff {TensorAssert.MaxAbsDifference(expected, actual)}");
    }

    [Fact]
    public void Leading_dimensions_should_be_kept()
    {
        using var _ = no_grad();
        var g = Seeded(7);
        using var x = randn(2, 2, 64, generator: g);                              // a beam-2 step: [beams, tokens, D]
        using var w = randn(96, 64, generator: g);
        using var b = randn(96, generator: g);

        using var actual = Linears.Apply(x, w, b);

        Assert.Equal(new long[] { 2, 2, 96 }, actual.shape);
        using var expected = nn.functional.linear(x, w, b);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-4));
    }

    [Fact]
    public void A_strided_input_should_give_the_bits_of_its_contiguous_copy()
    {
        using var _ = no_grad();
        var g = Seeded(17);
        using var wide = randn(3, 2, 64, generator: g);
        using var x = wide.transpose(0, 1);                                      // [2, 3, 64], not contiguous
        using var w = randn(40, 64, generator: g);
        using var b = randn(40, generator: g);
        Assert.False(x.is_contiguous());

        using var strided = Linears.Apply(x, w, b);
        using var copy = x.contiguous();
        using var packed = Linears.Apply(copy, w, b);

        Assert.Equal(new long[] { 2, 3, 40 }, strided.shape);
        Assert.True(Same(strided, packed));
        using var expected = nn.functional.linear(x, w, b);
        Assert.True(strided.allclose(expected, rtol: 1e-5, atol: 1e-4));
    }

    [Fact]
    public void A_row_should_get_the_same_bits_alone_in_a_batch_and_with_any_thread_count()
    {
        using var _ = no_grad();
        var g = Seeded(11);
        using var x = randn(Linears.SmallBatchMaxRows, 768, generator: g);
        using var w = randn(3071, 768, generator: g);                          // split between threads; odd: a lone last row
        using var b = randn(3071, generator: g);
        int threads = get_num_threads();
        try
        {
            set_num_threads(2);
            using var batched = Linears.Apply(x, w, b);
            set_num_threads(1);
            using var batchedOneThread = Linears.Apply(x, w, b);
            Assert.True(Same(batched, batchedOneThread), "one and two threads gave different bits");
            for (int r = 0; r < x.shape[0]; r++)
            {
                using var alone = Linears.Apply(x.narrow(0, r, 1), w, b);
                using var inBatch = batched.narrow(0, r, 1);
                Assert.True(Same(alone, inBatch), $"row {r} alone differs from row {r} in the batch");
            }
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Fact]
    public void Larger_products_should_match_libtorch_and_keep_each_row_s_bits()
    {
        using var _ = no_grad();
        var g = Seeded(29);
        using var many = randn(3 * Linears.SmallBatchMaxRows + 5, 200, generator: g);   // an image's tokens and more
        using var w = randn(97, 200, generator: g);
        using var b = randn(97, generator: g);

        using var actual = Linears.Apply(many, w, b);

        using var expected = nn.functional.linear(many, w, b);
        if (!PanelLinear.Supported)
        {
            Assert.True(Same(actual, expected), "without 512-bit vectors large products stay with libtorch");
            return;
        }
        float scale = (float)TensorAssert.MaxAbs(expected);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5 * scale), $"max diff {TensorAssert.MaxAbsDifference(expected, actual)}");
        foreach (int r in new[] { 0, 131, many.shape[0] - 1 })
        {
            using var alone = Linears.Apply(many.narrow(0, r, 1), w, b);
            using var inBatch = actual.narrow(0, r, 1);
            Assert.True(Same(alone, inBatch), $"row {r} alone differs from row {r} in a {many.shape[0]}-row product");
        }
    }

    [Fact]
    public void Autograd_should_be_libtorch_linear_exactly()
    {
        var g = Seeded(13);
        using var w = randn(48, 32, generator: g).requires_grad_();
        using var b = randn(48, generator: g);

        using var x = randn(2, 32, generator: g);
        using var y = Linears.Apply(x, w, b);
        using (var expected = nn.functional.linear(x, w, b)) Assert.True(Same(y, expected));
        using var loss = y.sum();
        loss.backward();
        Assert.NotNull(w.grad);
        using var expectedGrad = x.sum(dim: 0).unsqueeze(0).expand(48, 32);            // d(Σ x·Wᵀ)/dW = Σ rows of x
        Assert.True(w.grad!.allclose(expectedGrad, rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData(1, 768, 2304)]
    [InlineData(4, 768, 3072)]
    [InlineData(5, 70, 33)]              // K not a multiple of 16, N not of 32: the scalar packing, a partial last panel
    [InlineData(9, 3072, 769)]           // a block of eight and a lone row
    [InlineData(64, 64, 256)]
    [InlineData(32, 3072, 768)]          // a B = 8 decode step's FFN output: four blocks, chunks of k carried in memory
    [InlineData(12, 1700, 100)]          // a partial last chunk of k and a partial last block of rows
    [InlineData(128, 768, 2304)]         // the most rows a small product has
    public void Prebuilt_panels_should_give_the_bits_of_panels_built_on_the_fly(int rows, int k, int n)
    {
        using var _ = no_grad();
        var g = Seeded(rows * 7 + n);
        using var x = randn(rows, k, generator: g);
        using var w = randn(n, k, generator: g);
        using var b = randn(n, generator: g);
        using var panels = new WeightPanels();
        int threads = get_num_threads();
        try
        {
            foreach (int t in new[] { 1, 2 })
            {
                set_num_threads(t);
                using var onTheFly = Linears.Apply(x, w, b, panels: null);
                using var prebuilt = Linears.Apply(x, w, b, panels);
                Assert.True(Same(onTheFly, prebuilt), $"{t} thread(s): prebuilt panels changed the bits");
            }
        }
        finally
        {
            set_num_threads(threads);
        }
        Assert.True(!PanelLinear.Supported || panels.Bytes >= (long)n * k * sizeof(float), "the panels were not built");
    }

    [Fact]
    public void Panels_should_be_built_again_for_another_weight()
    {
        using var _ = no_grad();
        var g = Seeded(19);
        using var x = randn(4, 64, generator: g);
        using var first = randn(96, 64, generator: g);
        using var second = randn(96, 64, generator: g);
        using var panels = new WeightPanels();

        using (Linears.Apply(x, first, null, panels)) { }
        using var actual = Linears.Apply(x, second, null, panels);

        using var expected = Linears.Apply(x, second, null);
        Assert.True(Same(actual, expected), "panels of the first weight were used for the second");
    }

    [Fact]
    public void A_dense_layer_should_not_read_panels_built_before_training_changed_its_weights()
    {
        var config = UniPerceiverConfig.Tiny;
        using var block = new MoEAttentionBlock(1, config, moe: false);
        var dense = (TorchSharp.Modules.Linear)block.DenseProj;
        foreach (var p in block.parameters()) p.requires_grad = false;            // as loaded: frozen
        var g = Seeded(23);
        using var context = randn(1, 4, config.Hidden, generator: g);
        Tensor before;
        using (no_grad()) before = block.OutProjection(context, null!);          // builds the panels (a dense projection needs no pass)

        foreach (var p in block.parameters()) p.requires_grad = true;             // training: unfreeze, a forward pass, a step
        using (var trained = block.OutProjection(context, null!)) { }
        using (no_grad()) dense.weight!.PlusInPlace(TorchScalar.Use(0.5f, s => full(dense.weight!.shape, s)));
        foreach (var p in block.parameters()) p.requires_grad = false;
        Tensor after;
        using (no_grad()) after = block.OutProjection(context, null!);

        using var _ = no_grad();
        using var expected = Linears.Apply(context, dense.weight!, dense.bias);
        Assert.True(Same(after, expected), "the layer read panels of its weights from before the update");
        Assert.False(Same(after, before));
        before.Dispose();
        after.Dispose();
    }
}
