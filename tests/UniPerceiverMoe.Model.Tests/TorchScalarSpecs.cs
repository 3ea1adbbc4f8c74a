using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests;

public sealed class TorchScalarSpecs
{
    [Fact]
    public void Use_should_make_the_scalar_type_the_implicit_conversion_made()
    {
        Scalar implicitFloat = 0.5f;
        Assert.Equal(implicitFloat.Type, TorchScalar.Use(0.5f, s => s.Type));   // c10 keeps floats as doubles
        implicitFloat.Dispose();
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
}
