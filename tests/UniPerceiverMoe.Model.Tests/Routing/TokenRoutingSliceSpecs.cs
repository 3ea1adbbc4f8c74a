using UniPerceiverMoe.Model.Routing;
using Xunit;

namespace UniPerceiverMoe.Model.Tests.Routing;

/// <summary><see cref="TokenRouting.Slice"/>: the routing of a span of tokens, renumbered from 0, which a pass whose
/// last layer computes only some tokens uses past its attention.</summary>
public sealed class TokenRoutingSliceSpecs
{
    [Fact]
    public void A_slice_should_keep_each_token_s_attribute_and_count_from_zero()
    {
        var routing = TokenRouting.Split(5, 2, MoeAttribute.CaptionVisual, MoeAttribute.CaptionText);

        string visual = MoeAttribute.CaptionVisual.ToString(), text = MoeAttribute.CaptionText.ToString();
        Assert.Equal($"[0,1):{visual} [1,3):{text}", routing.Slice(1, 3).ToString());
        Assert.Equal($"[0,2):{text}", routing.Slice(3, 2).ToString());
        Assert.Equal($"[0,2):{visual}", routing.Narrow(2).ToString());
        Assert.Equal(routing.ToString(), routing.Slice(0, 5).ToString());
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(4, 2)]
    [InlineData(1, 0)]
    public void A_slice_outside_the_routing_should_be_refused_by_name(int start, int length)
    {
        var routing = TokenRouting.Uniform(5, MoeAttribute.CaptionText);
        var error = Assert.Throws<ArgumentException>(() => routing.Slice(start, length));
        Assert.Contains("from a routing of 5 tokens", error.Message);
    }
}
