using System.Collections.Concurrent;
using Akka.Configuration;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.ExpertGroups;

/// <summary>
/// Expert weights whose merge is easy to check: expert e of every site is (e + 1)·I [width, width] with a zero bias,
/// so a route (experts e_i, gates g_i) maps x to x·Σ g_i (e_i + 1). Counts how many sources were loaded (one per
/// group incarnation) and how many were disposed.
/// </summary>
internal sealed class ScaledIdentityWeights(int width) : IExpertWeightSource, IDisposable
{
    private readonly ConcurrentDictionary<(MoeSite Site, int Expert), (Tensor Weight, Tensor Bias)> made = new();

    public bool Disposed { get; private set; }

    public (Tensor Weight, Tensor Bias) Expert(MoeSite site, int expert) => made.GetOrAdd((site, expert), _ =>
    {
        using var identity = eye(width);
        var weight = TorchScalar.Use((double)(expert + 1), scale => identity.mul(scale)).DetachFromDisposeScope();
        return (weight, zeros(width).DetachFromDisposeScope());
    });

    /// <summary>What the route's merged linear does to x: x·Σ g_i (e_i + 1).</summary>
    public static Tensor Expected(Tensor x, Route route) =>
        TorchScalar.Use(route.Experts.Zip(route.Weights).Sum(p => (double)p.Second * (p.First + 1)), scale => x.mul(scale));

    public void Dispose()
    {
        Disposed = true;
        foreach (var (w, b) in made.Values)
        {
            w.Dispose();
            b.Dispose();
        }
    }
}

/// <summary>A loader for actor specs: hands out <see cref="ScaledIdentityWeights"/> and remembers each one, or
/// throws while <see cref="Broken"/> is set.</summary>
internal sealed class CountingLoader(int width)
{
    private readonly ConcurrentQueue<(string Group, ScaledIdentityWeights Weights)> loaded = new();

    public bool Broken { get; set; }

    public int Loads => loaded.Count;

    public int LoadsOf(string group) => loaded.Count(l => l.Group == group);

    public IReadOnlyList<ScaledIdentityWeights> Sources => loaded.Select(l => l.Weights).ToArray();

    public IExpertWeightSource Load(UniPerceiverMoe.Actors.Placement.ExpertGroupSpec spec)
    {
        if (Broken) throw new IOException($"cannot read the experts of {spec.Id}");
        var weights = new ScaledIdentityWeights(width);
        loaded.Enqueue((spec.Id, weights));
        return weights;
    }
}

/// <summary>ActorSystem configuration for actor specs: the project's dispatchers (hocon/reference.conf) and the
/// TestKit's event listener.</summary>
internal static class ActorSpecConfig
{
    public static Config Config { get; } = ConfigurationFactory.ParseString("""
        akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]
        akka.loglevel = INFO
        """).WithFallback(UpmoeConfig.Reference);
}
