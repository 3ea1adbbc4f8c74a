// Specs for RestrictedUnpickler: the whitelist refuses code-running globals; state-dict opcodes build plain data.
using System.Numerics;
using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

public class RestrictedUnpicklerSpecs
{
    [Fact]
    public void Unpickler_should_refuse_a_GLOBAL_outside_the_whitelist_naming_file_and_global()
    {
        var pkl = new PickleBuilder().Proto(2).Global("os", "system").Str("echo pwned").Op(0x85).Reduce().Stop().ToArray();
        var e = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Unpickle(pkl, "evil.pth"));
        Assert.Equal("evil.pth: refusing pickle global 'os.system' (only state-dict globals are allowed).", e.Message);
    }

    [Fact]
    public void Unpickler_should_refuse_a_STACK_GLOBAL_outside_the_whitelist()
    {
        // Protocol 4 spelling: FRAME, SHORT_BINUNICODE + MEMOIZE, STACK_GLOBAL.
        var pkl = new PickleBuilder().Proto(4).Op(0x95, 20, 0, 0, 0, 0, 0, 0, 0)
            .ShortStr("builtins").Op(0x94).ShortStr("eval").Op(0x94).Op(0x93).Stop().ToArray();
        var e = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Unpickle(pkl, "evil.pth"));
        Assert.Contains("refusing pickle global 'builtins.eval'", e.Message);
    }

    [Fact]
    public void Unpickler_should_refuse_to_call_a_whitelisted_storage_type()
    {
        var pkl = new PickleBuilder().Proto(2).Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop().ToArray();
        var e = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Unpickle(pkl, "x.pth"));
        Assert.Contains("x.pth: pickle tries to call global 'torch.FloatStorage'", e.Message);
    }

    [Fact]
    public void Unpickler_should_build_plain_data_from_state_dict_opcodes()
    {
        // {'a': (1, 300, -5, 2**40, 2**70, 1.5, True, False, None), 'b': [7, 'x'], 'c': _codecs.encode('\xff', 'latin1'),
        //  'd': set([1]), 'e': <memo of 'b'>}
        var p = new PickleBuilder().Proto(2).EmptyDict().Op((byte)'q', 0).Mark()
            .Str("a").Mark().Int(1).Int(300).Int(-5).Int(1L << 40)
            .Op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40)                       // LONG1: 2**70
            .Op((byte)'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).Op(0x88, 0x89, (byte)'N').Tuple()
            .Str("b").Op((byte)']').Op((byte)'q', 1).Int(7).Op((byte)'a').Str("x").Op((byte)'a')
            .Str("c").Global("_codecs", "encode").Str("\u00ff").Str("latin1").Op(0x86).Reduce()
            .Str("d").Global("__builtin__", "set").Op((byte)']').Int(1).Op((byte)'a').Op(0x85).Reduce()
            .Str("e").Op((byte)'h', 1)
            .Op((byte)'u').Stop();
        var root = Assert.IsType<PickleDict>(RestrictedUnpickler.Unpickle(p.ToArray(), "t.pkl"));
        var items = root.Items.ToDictionary(kv => (string)kv.Key, kv => kv.Value);
        var a = Assert.IsType<object?[]>(items["a"]);
        Assert.Equal(new object?[] { 1L, 300L, -5L, 1L << 40, BigInteger.Pow(2, 70), 1.5, true, false, null }, a);
        Assert.Equal(new List<object?> { 7L, "x" }, items["b"]);
        Assert.Equal(new byte[] { 0xff }, items["c"]);
        Assert.Equal(new List<object?> { 1L }, Assert.IsType<PickleSet>(items["d"]).Items);
        Assert.Same(items["b"], items["e"]);
    }

    [Fact]
    public void Unpickler_should_turn_persistent_ids_into_storage_references_without_reading_data()
    {
        var p = new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", "HalfStorage").Str("7").Str("cuda:0").Int(12).Tuple().Op((byte)'Q')
            .Int(2).Ints(new[] { 2L, 5 }).Ints(new[] { 5L, 1 }).Op(0x89)
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce().Stop();
        var t = Assert.IsType<TensorRef>(RestrictedUnpickler.Unpickle(p.ToArray(), "t.pth"));
        Assert.Equal(new StorageRef("7", ScalarType.Float16, "cuda:0", 12), t.Storage);
        Assert.Equal(2L, t.Offset);
        Assert.Equal(new[] { 2L, 5 }, t.Size);
        Assert.Equal(new[] { 5L, 1 }, t.Stride);
    }

    [Fact]
    public void Unpickler_should_reject_a_truncated_program_and_an_unknown_opcode()
    {
        var truncated = new PickleBuilder().Proto(2).Op((byte)'X', 50, 0, 0, 0).Op("abc"u8.ToArray()).ToArray();
        Assert.Contains("t.pkl: truncated pickle", Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Unpickle(truncated, "t.pkl")).Message);
        var unknown = new PickleBuilder().Proto(2).Op((byte)'i').ToArray(); // INST: imports and calls, never allowed
        Assert.Contains("unsupported pickle opcode 0x69", Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Unpickle(unknown, "t.pkl")).Message);
    }
}
