using Xunit;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests;

/// <summary><see cref="TensorShapes.Of"/> gives what <c>Tensor.shape</c> gives, for every rank and for views.</summary>
public sealed class TensorShapesSpecs
{
    [Theory]
    [InlineData(new long[0])]
    [InlineData(new long[] { 7 })]
    [InlineData(new long[] { 2, 0, 3 })]
    [InlineData(new long[] { 1, 4, 197, 64, 2 })]
    public void Sizes_should_be_those_of_shape(long[] sizes)
    {
        using var t = zeros(sizes);
        Assert.Equal(t.shape, TensorShapes.Of(t));
    }

    [Fact]
    public void A_views_sizes_should_be_the_views_own()
    {
        using var t = zeros(4, 6, 8);
        using var view = t.permute(2, 0, 1).narrow(1, 1, 2);
        Assert.Equal(new long[] { 8, 2, 6 }, TensorShapes.Of(view));
        Assert.Equal(view.shape, TensorShapes.Of(view));
    }

    [Fact]
    public void The_array_should_be_the_callers_own()
    {
        using var t = zeros(3, 5);
        var sizes = TensorShapes.Of(t);
        sizes[1] = 99;
        Assert.Equal(new long[] { 3, 5 }, TensorShapes.Of(t));
    }
}
