using UniPerceiverMoe.Model.Modules;
using Xunit;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="KvSlotWriter"/>: a pass's keys, as the attention block hands them over (a permuted view of the fused
/// projection), land in exactly the slots <c>narrow(2, at, n).copy_</c> fills, and every other slot keeps its value.
/// </summary>
public sealed class KvSlotWriterSpecs
{
    [Theory]
    [InlineData(4, 3, 2, 64, 5)]
    [InlineData(1, 2, 1, 16, 0)]
    [InlineData(3, 1, 3, 8, 4)]
    public void It_should_fill_the_slots_copy_fills_and_leave_the_others(int rows, int heads, int n, int hd, int at)
    {
        using var _ = no_grad();
        var g = new Generator(7 + (ulong)(rows * hd + at));
        using var fused = randn([rows, n, 3, heads, hd], generator: g);          // [R, n, 3·H·hd] as the projection gives it
        using var perHead = fused.permute(2, 0, 3, 1, 4);                          // [3, R, H, n, hd]
        using var keys = perHead[1];
        using var expected = randn([rows, heads, at + n + 2, hd], generator: g);
        using var actual = expected.clone();
        using (var slots = expected.narrow(2, at, n)) slots.copy_(keys);

        Assert.True(KvSlotWriter.Handles(keys, actual));
        KvSlotWriter.Write(keys, actual, at);

        using var equal = actual.eq(expected).all();
        Assert.True(equal.item<bool>());
    }

    [Fact]
    public void It_should_leave_tensors_it_cannot_read_to_copy()
    {
        using var _ = no_grad();
        using var slots = zeros(2, 3, 4, 8);
        using var doubles = zeros([2, 3, 1, 8], ScalarType.Float64);
        using var wide = zeros(2, 3, 8, 2);
        using var strided = wide.transpose(2, 3);                                  // [2, 3, 2, 8], last stride 2
        using var otherHeads = zeros(2, 4, 1, 8);
        Assert.False(KvSlotWriter.Handles(doubles, slots));
        Assert.False(KvSlotWriter.Handles(strided, slots));
        Assert.False(KvSlotWriter.Handles(otherHeads, slots));
    }
}
