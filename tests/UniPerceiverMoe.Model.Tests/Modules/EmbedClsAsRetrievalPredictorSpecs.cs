using TorchSharp;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

public sealed class EmbedClsAsRetrievalPredictorSpecs
{
    [Fact]
    public void Temperatures_should_survive_moving_the_module()
    {
        // Moving a module replaces its parameters with new tensors and frees the old ones (on a GPU this broke
        // captioning: "Tensor invalid -- empty handle"); a dtype change does the same on the CPU.
        using var predictor = new EmbedClsAsRetrievalPredictor(UniPerceiverConfig.Named("tiny"));
        float before = predictor.Temperature("caption");
        predictor.to(ScalarType.Float64);
        Assert.Equal(before, predictor.Temperature("caption"), 5);
        Assert.Throws<ArgumentException>(() => predictor.Temperature("nonsense"));
    }
}
