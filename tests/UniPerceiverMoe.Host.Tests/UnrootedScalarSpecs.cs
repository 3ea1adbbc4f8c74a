using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Host.Tests;

/// <summary>No shipped assembly may call TorchSharp in a way that leaves a native Scalar unheld (TorchScalar.cs).</summary>
public sealed class UnrootedScalarSpecs
{
    public static TheoryData<string> Assemblies() =>
    [
        typeof(UniPerceiverMoe.Model.TorchScalar).Assembly.Location,
        typeof(UniPerceiverMoe.Actors.Engine.SequenceExecutorActor).Assembly.Location,
        typeof(UniPerceiverMoe.Streams.Batching.WindowBatcher).Assembly.Location,
        typeof(UniPerceiverMoe.Host.Program).Assembly.Location,
        typeof(UnrootedScalarScanner).Assembly.Location,
        typeof(UnrootedScalarSpecs).Assembly.Location,
    ];

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Assembly_should_hold_every_scalar_it_passes_to_TorchSharp(string assembly) =>
        Assert.Empty(UnrootedScalarScanner.Scan(assembly));
}
