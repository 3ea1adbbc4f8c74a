using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// Adam (Kingma &amp; Ba; PyTorch's update without weight decay or amsgrad), step for step the arithmetic of
/// <c>torch.optim.Adam</c>. It exists because TorchSharp 0.107's Adam passes its coefficients as implicit Scalars that
/// a GC can free mid-call (see <see cref="TorchScalar"/>); here every coefficient is held until its call returns.
/// The learning rate is given per step, so the schedule lives with the caller.
/// </summary>
public sealed class HeldScalarAdam : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly Tensor[] firstMoments;
    private readonly Tensor[] secondMoments;
    private readonly double beta1, beta2, eps;
    private long steps;

    public HeldScalarAdam(IEnumerable<Parameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        this.parameters = parameters.ToArray();
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "Adam betas must lie in [0, 1).");
        if (eps <= 0) throw new ArgumentOutOfRangeException(nameof(eps), "Adam eps must be positive.");
        (this.beta1, this.beta2, this.eps) = (beta1, beta2, eps);
        firstMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>Zeroes every parameter's gradient in place (as TorchSharp's optimizers do).</summary>
    public void ZeroGrad()
    {
        foreach (var p in parameters)
        {
            using var grad = p.grad;
            grad?.zero_();
        }
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; parameters without a gradient are left alone.</summary>
    public void Step(double lr)
    {
        steps++;
        double biasCorrection1 = 1 - Math.Pow(beta1, steps);
        double biasCorrection2 = 1 - Math.Pow(beta2, steps);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var b1 = beta1.ToScalar();
        using var oneMinusB1 = (1 - beta1).ToScalar();
        using var b2 = beta2.ToScalar();
        using var oneMinusB2 = (1 - beta2).ToScalar();
        using var sqrtCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
        using var epsilon = eps.ToScalar();
        using var negStepSize = (-lr / biasCorrection1).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            using var grad = parameters[i].grad;
            if (grad is null) continue;
            firstMoments[i].mul_(b1).add_(grad, oneMinusB1);
            secondMoments[i].mul_(b2).addcmul_(grad, grad, oneMinusB2);
            using var denominator = secondMoments[i].sqrt().div_(sqrtCorrection2).PlusInPlace(epsilon);
            parameters[i].addcdiv_(firstMoments[i], denominator, negStepSize);
        }
    }

    public void Dispose()
    {
        foreach (var t in firstMoments) t.Dispose();
        foreach (var t in secondMoments) t.Dispose();
    }
}
