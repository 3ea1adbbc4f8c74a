using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>Starts engines over the golden model (shared, loaded once) with a per-run cache directory.</summary>
public static class EngineFixture
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "upmoe-tests-" + Environment.ProcessId);

    public static UniPerceiverEngine Start(PlacementPlan? plan = null, ExpertGroupFaults? faults = null, string hocon = "")
    {
        var config = UpmoeConfig.Parse($"upmoe.engine.cache-dir = \"{CacheDir}\"\nupmoe.engine.expert-ask-timeout = 20s\n{hocon}");
        return UniPerceiverEngine.Start(config, new EngineStartOptions
        {
            Model = GoldenModel.Model,
            CheckpointPath = GoldenModel.CheckpointPath,
            Tokenizer = GoldenModel.Tokenizer,
            Plan = plan,
            Faults = faults,
        });
    }
}
