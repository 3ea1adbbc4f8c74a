namespace UniPerceiverMoe.Model.Tests;

public sealed class UniPerceiverConfigSpecs
{
    [Fact]
    public void A_config_written_in_the_fixture_layout_should_read_back_equal()
    {
        var config = UniPerceiverConfig.Tiny with { Patch = 32, MaxFrames = 4, MoeLayerIndices = [0, 2] };
        var path = Path.Combine(Path.GetTempPath(), $"upmoe-config-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, config.ToFixtureJson(set: "spec"));
            Assert.Equal(config.ToJson(), UniPerceiverConfig.FromJsonFile(path).ToJson());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
