// Specs for DeepSpeedKeyMap and the loader on a DeepSpeed-era {module: fp16 sd} checkpoint.
using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

public class DeepSpeedKeyMapSpecs
{
    /// <summary>Current name -> DeepSpeed-era name: the inverse of tools/convertmoe.ipynb's mapping, written out by hand.</summary>
    private static string ToDeepSpeed(string key) => key
        .Replace("fused_encoder.", "encoder.")
        .Replace("self_attn.qkv_proj", "attention.self.qkv_proj")
        .Replace("self_attn.dense", "attention.output.dense")
        .Replace(".gate.", ".deepspeed_moe.gate.")
        .Replace(".experts.", ".deepspeed_moe.experts.")
        .Replace("gamma_1", "attention_output.residual_scale")
        .Replace("gamma_2", "ffn_output.residual_scale")
        .Replace("linear1.", "ffn.dense.")
        .Replace("linear2.", "ffn.dense2.")
        .Replace("norm1.", "LayerNormModules.0.")
        .Replace("norm2.", "LayerNormModules.1.")
        .Replace("loss_prepare.", "predictor.");

    [Theory]
    [InlineData("encoder.layers.0.attention.self.qkv_proj.deepspeed_moe.experts.deepspeed_experts.3.weight", "fused_encoder.layers.0.self_attn.qkv_proj.experts.deepspeed_experts.3.weight")]
    [InlineData("encoder.layers.2.ffn.dense2.deepspeed_moe.gate.wg.weight", "fused_encoder.layers.2.linear2.gate.wg.weight")]
    [InlineData("encoder.layers.1.attention_output.residual_scale", "fused_encoder.layers.1.gamma_1")]
    [InlineData("encoder.layers.1.LayerNormModules.1.bias", "fused_encoder.layers.1.norm2.bias")]
    [InlineData("predictor.logit_scale_caption", "loss_prepare.logit_scale_caption")]
    [InlineData("token_embed.embeddings.weight", "token_embed.embeddings.weight")]
    public void Rename_should_follow_the_reference_converter(string deepSpeed, string current) =>
        Assert.Equal(current, DeepSpeedKeyMap.Rename(deepSpeed));

    [Fact]
    public void Rename_should_drop_visual_embed_and_detection_should_ignore_current_names()
    {
        Assert.Null(DeepSpeedKeyMap.Rename("visual_embed.patch_embed.weight"));
        Assert.False(DeepSpeedKeyMap.IsDeepSpeedNamed(new[] { "fused_encoder.layers.0.norm1.weight", "token_embed.embeddings.weight" }));
        Assert.True(DeepSpeedKeyMap.IsDeepSpeedNamed(new[] { "encoder.layers.0.LayerNormModules.0.weight" }));
    }

    [Fact, Trait("Category", "Golden")]
    public void DeepSpeed_named_fp16_module_checkpoint_should_load_back_to_the_golden_names()
    {
        using var dir = new TempDir();
        using var golden = CheckpointLoader.Load(CheckpointTestFiles.GoldenModel);
        // Build what a DeepSpeed mp_rank_00_model_states.pt would hold: {'module': sd} in fp16, [1,1,D] LayerScales,
        // plus a visual_embed.* tensor the converter drops.
        var ds = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (key, t) in golden)
            {
                using var shaped = key.EndsWith("gamma_1") || key.EndsWith("gamma_2") ? t.reshape(1, 1, -1) : t.alias();
                ds[ToDeepSpeed(key)] = shaped.to(ScalarType.Float16);
            }
            ds["visual_embed.patch_embed.weight"] = zeros(new long[] { 4, 3 }, ScalarType.Float16);
            var path = dir.File("mp_rank_00_model_states.pt");
            TorchZipWriter.WriteStateDict(path, ds, "module");

            using var sd = CheckpointLoader.Load(path);
            Assert.Equal(golden.Keys.Order(), sd.Keys.Order());
            Assert.All(golden, kv =>
            {
                using var expected = kv.Value.to(ScalarType.Float16).to(ScalarType.Float32);
                Assert.Equal(kv.Value.shape, sd[kv.Key].shape);
                Assert.True(expected.equal(sd[kv.Key]).all().item<bool>(), kv.Key);
            });
            Assert.Equal(("module", true), (sd.Report.Wrapper, sd.Report.DeepSpeedRenamed));
            Assert.Equal(new[] { "visual_embed.patch_embed.weight" }, sd.Report.DroppedKeys);
            Assert.Equal(golden.Count + 1, sd.Report.SourceDtypes[ScalarType.Float16]);
            Assert.Equal(golden.Count, sd.Report.ConvertedToFloat32);   // the dropped tensor is not converted
            Assert.All(sd.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));

            // A key filter sees the current names (what an expert node asks for), not the file's DeepSpeed ones.
            static bool Gamma(string key) => key.EndsWith("gamma_2", StringComparison.Ordinal);
            using var gammas = CheckpointLoader.Load(path, include: Gamma);
            Assert.Equal(golden.Keys.Where(Gamma).Order(), gammas.Keys.Order());
            Assert.All(gammas, kv => Assert.True(sd[kv.Key].equal(kv.Value).all().item<bool>(), kv.Key));
        }
        finally
        {
            foreach (var t in ds.Values) t.Dispose();
        }
    }
}
