// Specs for CheckpointLoader: the golden model.pth, safetensors round trip, refused and non-checkpoint files, dtypes, wrappers.
using System.Text;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

public class CheckpointLoaderSpecs
{
    [Fact, Trait("Category", "Golden")]
    public void Golden_model_pth_should_load_with_the_fixtures_keys_values_and_shapes()
    {
        var progress = new RecordingProgress();
        using var sd = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel, progress: progress);
        Assert.Equal(GoldenFacts.StateDictKeys, sd.Count);
        Assert.Equal(GoldenFacts.StateDictValues, sd.ValueCount);
        int moe = GoldenFacts.FirstMoeLayer, expert = GoldenFacts.LastExpert, last = GoldenFacts.Layers - 1;
        long d = GoldenFacts.Hidden;
        Assert.Equal(GoldenFacts.ExpertWeightShape("linear1"), sd[$"fused_encoder.layers.{moe}.linear1.experts.deepspeed_experts.{expert}.weight"].shape);
        Assert.Equal(GoldenFacts.ExpertWeightShape("qkv_proj"), sd[$"fused_encoder.layers.{moe}.self_attn.qkv_proj.experts.deepspeed_experts.{expert}.weight"].shape);
        Assert.Equal(new[] { (long)GoldenFacts.VocabSize, d }, sd["token_embed.embeddings.weight"].shape);
        Assert.Equal(new[] { (long)GoldenFacts.Experts, d }, sd[$"fused_encoder.layers.{moe}.self_attn.dense.gate.wg.weight"].shape);
        Assert.Equal(new[] { d }, sd[$"fused_encoder.layers.{last}.gamma_2"].shape);
        Assert.Equal(GoldenFacts.LogitScaleParam("logit_scale_img_cls"), sd["loss_prepare.logit_scale_img_cls"].item<float>(), 5);
        Assert.True(sd["video_embed.embeddings_norm.weight"].allclose(sd["token_embed.embeddings_norm.weight"]));
        Assert.All(sd.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        Assert.Equal(("pth", "model", false, 0), (sd.Report.Format, sd.Report.Wrapper, sd.Report.DeepSpeedRenamed, sd.Report.ConvertedToFloat32));
        Assert.Equal(GoldenFacts.StateDictKeys, sd.Report.SourceDtypes[ScalarType.Float32]);
        Assert.Equal(0, progress.Values[0]);
        Assert.Equal(1, progress.Values[^1]);
        Assert.True(progress.Values.Zip(progress.Values.Skip(1)).All(p => p.First <= p.Second), "progress must not go backwards");
    }

    [Fact, Trait("Category", "Golden")]
    public void Safetensors_round_trip_should_equal_the_pth()
    {
        using var dir = new TempDir();
        using var pth = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel);
        var path = dir.File("model.safetensors");
        SafeTensors.Save(path, pth);
        using var st = CheckpointLoader.Load(path);
        Assert.Equal(("safetensors", ""), (st.Report.Format, st.Report.Wrapper));
        Assert.Equal(pth.Keys.Order(), st.Keys.Order());
        Assert.All(pth, kv => Assert.True(kv.Value.equal(st[kv.Key]).all().item<bool>(), kv.Key));
    }

    [Fact, Trait("Category", "Golden")]
    public void A_key_filter_should_read_only_the_chosen_tensors_from_both_formats_with_the_full_values()
    {
        using var dir = new TempDir();
        using var full = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel);
        var safetensors = dir.File("model.safetensors");
        SafeTensors.Save(safetensors, full);
        static bool LastExpertOfLastMoeLayer(string key) =>
            key.StartsWith($"fused_encoder.layers.{GoldenFacts.MoeLayers[^1]}.", StringComparison.Ordinal) &&
            key.Contains($".deepspeed_experts.{GoldenFacts.LastExpert}.", StringComparison.Ordinal);
        foreach (var path in new[] { CheckpointTestFiles.GoldenModel, safetensors })
        {
            using var part = CheckpointLoader.Load(path, include: LastExpertOfLastMoeLayer);
            Assert.Equal(full.Keys.Where(LastExpertOfLastMoeLayer).Order(), part.Keys.Order());
            Assert.Equal(2 * GoldenFacts.MoeLinearsPerLayer, part.Count);                     // weight + bias of each MoE linear
            Assert.All(part, kv => Assert.True(kv.Value.equal(full[kv.Key]).all().item<bool>(), kv.Key));
        }
    }

    [Fact, Trait("Category", "Golden")]
    public void Loader_should_refuse_a_golden_pickle_rewritten_to_name_os_system()
    {
        using var dir = new TempDir();
        var path = dir.File("evil.pth");
        TorchZipWriter.RewritePickle(CheckpointTestFiles.GoldenModel, path, pkl =>
        {
            var text = Encoding.Latin1.GetString(pkl);
            int at = text.IndexOf("ccollections\nOrderedDict\n", StringComparison.Ordinal);
            Assert.True(at > 0);
            return Encoding.Latin1.GetBytes(text[..at] + "cos\nsystem\n" + text[(at + "ccollections\nOrderedDict\n".Length)..]);
        });
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(path));
        Assert.Equal($"{path}: refusing pickle global 'os.system' (only state-dict globals are allowed).", e.Message);
    }

    [Fact, Trait("Category", "Golden")]
    public void Loader_should_name_the_file_of_a_truncated_zip()
    {
        using var dir = new TempDir();
        var path = dir.File("truncated.pth");
        var bytes = File.ReadAllBytes(CheckpointTestFiles.GoldenModel);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 1000)]);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(path));
        Assert.StartsWith($"{path}: truncated or corrupt zip archive", e.Message);
    }

    [Theory]
    [InlineData("notes.txt", "this is not a checkpoint\n")]
    [InlineData("empty.bin", "")]
    [InlineData("fake.safetensors", "\u0010\0\0\0\0\0\0\0{\"a\": \"b\"}      ")]
    public void Loader_should_reject_a_file_that_is_not_a_checkpoint(string name, string content)
    {
        using var dir = new TempDir();
        var path = dir.File(name);
        File.WriteAllText(path, content, Encoding.Latin1);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(path));
        Assert.StartsWith($"{path}: not a checkpoint: neither a torch.save zip nor a safetensors file", e.Message);
    }

    [Fact]
    public void Loader_should_refuse_the_legacy_non_zip_torch_format()
    {
        using var dir = new TempDir();
        var path = dir.File("legacy.pt");
        File.WriteAllBytes(path, new PickleBuilder().Proto(2).Int(119547037146038801).Stop().ToArray());
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(path));
        Assert.StartsWith($"{path}: legacy (pre-1.6, non-zip) torch.save format is not supported", e.Message);
    }

    [Fact]
    public void Loader_should_convert_half_bfloat16_and_double_storages_to_float32_and_keep_integers()
    {
        using var dir = new TempDir();
        var path = dir.File("mixed.pth");
        using var h = tensor(new[] { 0.5f, -1.25f }).to(ScalarType.Float16);
        using var b = tensor(new[] { 3f }).to(ScalarType.BFloat16);
        using var d = tensor(new[] { 0.1 });
        using var i = tensor(new[] { 7L });
        TorchZipWriter.WriteStateDict(path, new Dictionary<string, Tensor> { ["h"] = h, ["b"] = b, ["d"] = d, ["i"] = i }, "model");
        using var sd = CheckpointLoader.Load(path);
        Assert.Equal(new[] { 0.5f, -1.25f }, sd["h"].data<float>().ToArray());
        Assert.Equal(3f, sd["b"].item<float>());
        Assert.Equal(0.1f, sd["d"].item<float>());
        Assert.Equal(ScalarType.Int64, sd["i"].dtype);
        Assert.Equal(3, sd.Report.ConvertedToFloat32);
        Assert.Equal(new[] { ScalarType.BFloat16, ScalarType.Float16, ScalarType.Float64, ScalarType.Int64 }.Order(), sd.Report.SourceDtypes.Keys.Order());
    }

    [Fact]
    public void Loader_should_unwrap_a_bare_state_dict_and_strip_a_DataParallel_module_prefix()
    {
        using var dir = new TempDir();
        var path = dir.File("bare.pth");
        using var w = ones(2, 3);
        TorchZipWriter.WriteStateDict(path, new Dictionary<string, Tensor> { ["module.loss_prepare.proj.weight"] = w }, wrapper: null);
        using var sd = CheckpointLoader.Load(path);
        Assert.Equal(new[] { "loss_prepare.proj.weight" }, sd.Keys);
        Assert.Equal(("", true), (sd.Report.Wrapper, sd.Report.StrippedModulePrefix));
    }
}
