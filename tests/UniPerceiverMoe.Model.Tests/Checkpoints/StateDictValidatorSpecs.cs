// Specs for StateDictValidator: one message naming the file and every missing, unexpected and wrong-shape key.
using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

public class StateDictValidatorSpecs
{
    [Fact, Trait("Category", "Golden")]
    public void Validator_should_accept_the_golden_state_dict_against_its_own_shapes()
    {
        using var sd = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel);
        StateDictValidator.Validate(sd.Shapes(), sd, sd.Path);
    }

    [Fact, Trait("Category", "Golden")]
    public void Validator_should_name_file_missing_key_and_wrong_shape_of_a_bad_checkpoint_in_one_message()
    {
        using var dir = new TempDir();
        using var golden = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel);
        var expected = golden.Shapes();
        // A checkpoint with one tensor missing, one of the wrong shape and one unknown key.
        var bad = golden.Where(kv => kv.Key != "loss_prepare.proj.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        long[] proj = expected["loss_prepare.proj.weight"];                         // [D, D]
        using var wrong = zeros(proj[0], proj[1] + 1);
        using var extra = zeros(3);
        bad["loss_prepare.proj.weight"] = wrong;
        bad["loss_prepare.unused"] = extra;
        var path = dir.File("bad.safetensors");
        SafeTensors.Save(path, bad);
        using var sd = CheckpointLoader.Load(path);

        var e = Assert.Throws<CheckpointException>(() => StateDictValidator.Validate(expected, sd, path));
        Assert.Equal($"{path}: state dict does not match the model: 1 missing key(s): loss_prepare.proj.bias; " +
                     "1 unexpected key(s): loss_prepare.unused; " +
                     $"1 wrong shape(s): loss_prepare.proj.weight (checkpoint [{proj[0]}, {proj[1] + 1}], model [{proj[0]}, {proj[1]}]).", e.Message);
    }

    [Fact]
    public void Validator_should_cap_each_list_and_skip_optional_keys()
    {
        var expected = Enumerable.Range(0, 30).ToDictionary(i => $"k{i:00}", _ => new long[] { 2 });
        expected["maybe"] = new long[] { 1 };
        var actual = new Dictionary<string, long[]> { ["k00"] = new long[] { 2 } };
        var e = Assert.Throws<CheckpointException>(() =>
            StateDictValidator.Validate(expected, actual, "m.pth", new HashSet<string> { "maybe" }));
        Assert.Contains("m.pth: state dict does not match the model: 29 missing key(s): k01, k02,", e.Message);
        Assert.EndsWith("k20 and 9 more.", e.Message);
        Assert.DoesNotContain("maybe", e.Message);
    }
}
