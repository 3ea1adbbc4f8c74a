using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>These specs must not flake on TorchSharp's unheld Scalars either (src/Model/TorchScalar.cs).</summary>
public sealed class UnrootedScalarSpecs
{
    [Fact]
    public void Spec_assembly_should_hold_every_scalar_it_passes_to_TorchSharp() =>
        Assert.Empty(UnrootedScalarScanner.Scan(typeof(UnrootedScalarSpecs).Assembly));
}
