using UniPerceiverMoe.Streams.Settings;
using Akka.Configuration;
using UniPerceiverMoe.Streams.Tests.Support;

namespace UniPerceiverMoe.Streams.Tests.Flows;

public class StreamSettingsSpecs
{
    [Fact]
    public void Settings_should_read_the_reference_defaults()
    {
        var s = StreamEngine.Settings();

        Assert.Equal(4, s.Window);
        Assert.Equal(8, s.Stride);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Hop);
        Assert.Equal(OverloadPolicy.Auto, s.Overload);
        Assert.Equal(OverloadPolicy.DropOldest, s.PolicyFor(live: true));
        Assert.Equal(OverloadPolicy.Backpressure, s.PolicyFor(live: false));
        Assert.Equal(30, s.HopFrames(30));
        Assert.Equal(7, s.StrideFrames(25)); // 8 frames at 30 fps = 6.67 frames at 25 fps
    }

    [Theory]
    [InlineData("upmoe.streams.window = 9", "window must be in 1..8")]
    [InlineData("upmoe.streams.overload = drop-newest", "overload must be")]
    [InlineData("upmoe.streams.buffer-size = 0", "buffer-size must be >= 1")]
    public void Settings_should_reject_invalid_values_naming_the_key(string hocon, string message)
    {
        var e = Assert.Throws<ConfigurationException>(() => StreamEngine.Settings(hocon));
        Assert.Contains("upmoe.streams." + message, e.Message);
    }
}
