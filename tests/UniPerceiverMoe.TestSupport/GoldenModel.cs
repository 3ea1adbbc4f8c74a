using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tokenization;

namespace UniPerceiverMoe.TestSupport;

/// <summary>The fixture's checkpoint loaded once per test run (config from the fixture's config.json).</summary>
public static class GoldenModel
{
    private static readonly Lazy<(UniPerceiverMoeModel Model, RouteTable Routes, LocalMoeExecutor Executor)> loaded = new(() =>
    {
        TorchSharp.torch.set_num_threads(1);
        var config = UniPerceiverConfig.FromJsonFile(GoldenFixture.File("config.json"));
        var model = ModelLoader.Load(CheckpointPath, config);
        var routes = new RouteTable(model);
        return (model, routes, new LocalMoeExecutor(model, routes));
    });

    public static UniPerceiverMoeModel Model => loaded.Value.Model;

    /// <summary>Path of the fixture checkpoint that <see cref="Model"/> was loaded from.</summary>
    public static string CheckpointPath =>
        Environment.GetEnvironmentVariable("UPMOE_GOLDEN_CHECKPOINT") is { Length: > 0 } p ? p : GoldenFixture.File("model.pth");

    public static RouteTable Routes => loaded.Value.Routes;

    private static readonly Lazy<ClipTokenizer> tokenizer = new(() =>
        ClipTokenizer.Load(Path.Combine(GoldenFixture.Directory, "..", "bpe_simple_vocab_16e6.txt.gz")));

    /// <summary>The CLIP tokenizer over the fixture's copy of the merges file (beside the fixture sets).</summary>
    public static ClipTokenizer Tokenizer => tokenizer.Value;

    private static readonly Lazy<VocabularyBank> bank = new(() => VocabularyBank.Build(Runner));

    public static UniPerceiverRunner Runner => new(loaded.Value.Model, loaded.Value.Executor);

    /// <summary>The full vocabulary bank of the fixture checkpoint, built once per test run.</summary>
    public static VocabularyBank Bank => bank.Value;
}
