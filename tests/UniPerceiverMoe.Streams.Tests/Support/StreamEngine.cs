using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Streams.Tests.Support;

/// <summary>One engine over the golden tiny model shared by a test class (temp cache directory per run), with its
/// vocabulary bank built before the first test so stream timings do not include it.</summary>
public sealed class StreamEngine : IAsyncLifetime
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "upmoe-stream-tests-" + Environment.ProcessId);

    public UniPerceiverEngine Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Engine = UniPerceiverEngine.Start(UpmoeConfig.Parse($"upmoe.engine.cache-dir = \"{CacheDir}\""), new EngineStartOptions
        {
            Model = GoldenModel.Model,
            CheckpointPath = GoldenModel.CheckpointPath,
            Tokenizer = GoldenModel.Tokenizer,
        });
        await Engine.VocabularyBankAsync();
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();

    /// <summary>upmoe.streams from <paramref name="hocon"/> over the reference defaults.</summary>
    public static StreamSettings Settings(string hocon = "") => StreamSettings.FromConfig(UpmoeConfig.Parse(hocon));
}
