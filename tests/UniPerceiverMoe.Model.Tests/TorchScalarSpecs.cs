using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests;

public sealed class TorchScalarSpecs
{
    [Fact]
    public void Use_should_make_the_scalar_type_the_implicit_conversion_made()
    {
        Assert.Equal(ScalarType.Float64, TorchScalar.Use(0.5f, s => s.Type));   // c10 keeps floats as doubles, as `Scalar s = 0.5f` did
        Assert.Equal(ScalarType.Float64, TorchScalar.Use(0.5, s => s.Type));
        Assert.Equal(ScalarType.Int64, TorchScalar.Use(3L, s => s.Type));
    }

    [Fact]
    public void Use_should_hold_the_scalar_through_a_collection_inside_the_call_and_free_it_after()
    {
        using var x = ones(4);
        Scalar? held = null;
        using var y = TorchScalar.Use(0.25f, s =>
        {
            held = s;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return x.mul(s);
        });
        Assert.Equal(0.25f, y[0].item<float>());
        Assert.Throws<InvalidOperationException>(() => held!.Type);   // disposed when Use returned ("empty handle")
    }

    [Fact]
    public void Plus_PlusInPlace_and_Arange_should_compute_what_add_and_arange_compute()
    {
        using var x = tensor(new[] { 1.5f, -2f, 3f });
        using var y = tensor(new[] { 0.25f, 4f, -3f });
        using var sum = x.Plus(y);
        Assert.Equal(new[] { 1.75f, 2f, 0f }, sum.data<float>().ToArray());
        using var acc = x.clone();
        Assert.Same(acc, acc.PlusInPlace(y));
        Assert.Equal(sum.data<float>().ToArray(), acc.data<float>().ToArray());
        acc.PlusInPlace(2);
        Assert.Equal(new[] { 3.75f, 4f, 2f }, acc.data<float>().ToArray());
        using var range = TorchScalar.Arange(4, CPU);
        Assert.Equal(ScalarType.Int64, range.dtype);
        Assert.Equal(new long[] { 0, 1, 2, 3 }, range.data<long>().ToArray());
    }
}
