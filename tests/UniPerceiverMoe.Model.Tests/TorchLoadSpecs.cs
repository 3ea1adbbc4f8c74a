using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests;

public class TorchLoadSpecs
{
    [Fact]
    public void Libtorch_should_load_and_match_the_pytorch_cpu_rng_stream()
    {
        // A generator of its own: torch's global one is shared with specs running on parallel threads.
        using var generator = new Generator(42);
        using var r = rand(3, generator: generator);
        var v = r.data<float>().ToArray();
        Assert.Equal(0.8823, v[0], 4);
        Assert.Equal(0.9150, v[1], 4);
        Assert.Equal(0.3829, v[2], 4);
    }
}
