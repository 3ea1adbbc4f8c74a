using TorchSharp.Modules;
using UniPerceiverMoe.Demo.Training;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Training;

public sealed class HeldScalarAdamSpecs
{
    [Fact]
    public void Three_steps_should_follow_the_Adam_update_with_bias_correction()
    {
        const double beta1 = 0.9, beta2 = 0.98, eps = 1e-8;
        double[] lrs = [1e-2, 5e-3, 2e-3];
        double[] start = [1.0, -2.0, 0.5];
        using var p = new Parameter(tensor(start, ScalarType.Float64));
        using var adam = new HeldScalarAdam([p], beta1, beta2, eps);

        var expected = (double[])start.Clone();
        var m = new double[3];
        var v = new double[3];
        for (int step = 1; step <= 3; step++)
        {
            adam.ZeroGrad();
            using (var loss = TorchScalar.Use(3L, three => p.pow(three)).sum()) loss.backward();   // grad = 3p²
            adam.Step(lrs[step - 1]);
            for (int i = 0; i < 3; i++)
            {
                double g = 3 * expected[i] * expected[i];
                m[i] = beta1 * m[i] + (1 - beta1) * g;
                v[i] = beta2 * v[i] + (1 - beta2) * g * g;
                double denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(beta2, step)) + eps;
                expected[i] -= lrs[step - 1] / (1 - Math.Pow(beta1, step)) * m[i] / denom;
            }
            var actual = p.data<double>().ToArray();
            for (int i = 0; i < 3; i++) Assert.Equal(expected[i], actual[i], 12);
        }
    }

    [Fact]
    public void ZeroGrad_should_stop_gradients_accumulating_across_steps()
    {
        using var p = new Parameter(tensor(new[] { 2.0 }));
        using var adam = new HeldScalarAdam([p]);
        for (int i = 0; i < 2; i++)
        {
            adam.ZeroGrad();
            using var loss = p.sum();
            loss.backward();
        }
        using var grad = p.grad!;
        Assert.Equal(1.0, grad.item<double>());
    }
}
