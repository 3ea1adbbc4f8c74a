using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.TestSupport;

/// <summary>
/// What a golden spec may assume about the fixture set under test, read from the set itself (its config.json, its
/// README, its inputs), never written down from one set: every golden spec holds for any set in the shared layout
/// (other widths, depths, expert counts and routes). Widths and depths come from the model config; state-dict
/// totals from config.json's "state_dict_keys" / "state_dict_params" (the harness counted them in PyTorch).
/// </summary>
public static partial class GoldenFacts
{
    private static readonly Lazy<UniPerceiverConfig> config = new(() => UniPerceiverConfig.FromJsonFile(GoldenFixture.File("config.json")));
    private static readonly Lazy<JsonElement> json = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(GoldenFixture.File("config.json")));
        return doc.RootElement.Clone();
    });

    /// <summary>The set's model config (config.json).</summary>
    public static UniPerceiverConfig Config => config.Value;

    /// <summary>Keys of the set's state dict as PyTorch saved it.</summary>
    public static int StateDictKeys => Required("state_dict_keys").GetInt32();

    /// <summary>Values (elements) over every tensor of the set's state dict.</summary>
    public static long StateDictValues => Required("state_dict_params").GetInt64();

    /// <summary>Width of the encoder (hidden size D).</summary>
    public static int Hidden => Config.Hidden;

    public static int Ffn => Config.Ffn;

    public static int Experts => Config.Experts;

    public static int Layers => Config.Layers;

    public static int VocabSize => Config.VocabSize;

    /// <summary>The encoder layers that hold experts, in order.</summary>
    public static IReadOnlyList<int> MoeLayers => Config.MoeLayers;

    /// <summary>The first MoE layer: a layer every set has experts in.</summary>
    public static int FirstMoeLayer => MoeLayers[0];

    /// <summary>The highest expert index of every MoE linear.</summary>
    public static int LastExpert => Experts - 1;

    /// <summary>MoE layers whose attention and FFN linears both have experts: the layers a per-layer plan can answer in
    /// one fused request per layer.</summary>
    public static int MoeLayersWithAttentionAndFfn => Config.MoeAttention && Config.MoeFfn ? MoeLayers.Count : 0;

    /// <summary>Linears with experts in one MoE layer: qkv_proj and dense with attention MoE, linear1 and linear2 with FFN MoE.</summary>
    public static int MoeLinearsPerLayer => (Config.MoeAttention ? 2 : 0) + (Config.MoeFfn ? 2 : 0);

    /// <summary>The stored parameter of a temperature (config.json logit_scales.NAME.param; tau = min(exp(param), clamp)).</summary>
    public static double LogitScaleParam(string name) => Required("logit_scales").GetProperty(name).GetProperty("param").GetDouble();

    /// <summary>Longest caption the set's decodes produce (config.json caption_decode.max_len).</summary>
    public static int CaptionMaxLength => Required("caption_decode").GetProperty("max_len").GetInt32();

    /// <summary>Height and width of the set's raw uint8 image (inputs.safetensors image.raw_u8, [H, W, 3]).</summary>
    public static (int Height, int Width) RawImageSize
    {
        get
        {
            var shape = GoldenFixture.Input("image.raw_u8").shape;
            return ((int)shape[0], (int)shape[1]);
        }
    }

    /// <summary>Tokenizer cases the set's README says tokenizer.json holds ("`tokenizer.json`: N strings").</summary>
    public static int TokenizerCases
    {
        get
        {
            var m = TokenizerCount().Match(File.ReadAllText(GoldenFixture.File("README.md")));
            if (!m.Success) throw new InvalidDataException($"{GoldenFixture.File("README.md")} does not say how many strings tokenizer.json holds.");
            return int.Parse(m.Groups[1].Value.Replace(",", ""), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Shape of an expert's weight in <paramref name="linear"/> (out, in), from the widths.</summary>
    public static long[] ExpertWeightShape(string linear) => linear switch
    {
        "qkv_proj" => [3L * Hidden, Hidden],
        "dense" => [Hidden, Hidden],
        "linear1" => [Ffn, Hidden],
        "linear2" => [Hidden, Ffn],
        _ => throw new ArgumentException($"no MoE linear '{linear}'", nameof(linear)),
    };

    private static JsonElement Required(string key) =>
        json.Value.TryGetProperty(key, out var value) ? value
            : throw new InvalidDataException($"{GoldenFixture.File("config.json")} has no \"{key}\".");

    [GeneratedRegex(@"`tokenizer\.json`: ([\d,]+) strings")]
    private static partial Regex TokenizerCount();
}
