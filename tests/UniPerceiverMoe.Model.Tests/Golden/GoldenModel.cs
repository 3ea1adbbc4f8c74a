using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>The fixture's checkpoint loaded once per test run (config from the fixture's config.json).</summary>
public static class GoldenModel
{
    private static readonly Lazy<(UniPerceiverMoeModel Model, RouteTable Routes, LocalMoeExecutor Executor)> loaded = new(() =>
    {
        TorchSharp.torch.set_num_threads(1);
        var config = UniPerceiverConfig.FromJsonFile(GoldenFixture.File("config.json"));
        var checkpoint = Environment.GetEnvironmentVariable("UPMOE_GOLDEN_CHECKPOINT") is { Length: > 0 } p ? p : GoldenFixture.File("model.pth");
        var model = ModelLoader.Load(checkpoint, config);
        var routes = new RouteTable(model);
        return (model, routes, new LocalMoeExecutor(model, routes));
    });

    public static UniPerceiverMoeModel Model => loaded.Value.Model;

    public static RouteTable Routes => loaded.Value.Routes;

    private static readonly Lazy<VocabularyBank> bank = new(() => VocabularyBank.Build(Runner));

    public static UniPerceiverRunner Runner => new(loaded.Value.Model, loaded.Value.Executor);

    /// <summary>The full vocabulary bank of the fixture checkpoint, built once per test run.</summary>
    public static VocabularyBank Bank => bank.Value;
}
