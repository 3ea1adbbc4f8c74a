namespace UniPerceiverMoe.Model.Routing;

/// <summary>The four linears of an MoE layer that are Conditional MoEs ('FFN,SA').</summary>
public enum MoeLinearKind
{
    /// <summary>self_attn.qkv_proj: D → 3D.</summary>
    QkvProj,
    /// <summary>self_attn.dense (attention output): D → D; reuses the qkv_proj gate decision.</summary>
    Dense,
    /// <summary>linear1: D → F.</summary>
    Linear1,
    /// <summary>linear2: F → D; reuses the linear1 gate decision (FFN_SHARE_GATE_DECISION).</summary>
    Linear2,
}

/// <summary>The two effective gates per MoE layer.</summary>
public enum MoeGateKind
{
    Attention,
    Ffn,
}

/// <summary>One MoE linear of the encoder: (layer, linear).</summary>
public readonly record struct MoeSite(int Layer, MoeLinearKind Kind)
{
    public MoeGateKind Gate => Kind is MoeLinearKind.QkvProj or MoeLinearKind.Dense ? MoeGateKind.Attention : MoeGateKind.Ffn;

    /// <summary>The checkpoint key prefix of this linear, e.g. "fused_encoder.layers.0.self_attn.qkv_proj".</summary>
    public string KeyPrefix => $"fused_encoder.layers.{Layer}.{KindKey(Kind)}";

    public static string KindKey(MoeLinearKind kind) => kind switch
    {
        MoeLinearKind.QkvProj => "self_attn.qkv_proj",
        MoeLinearKind.Dense => "self_attn.dense",
        MoeLinearKind.Linear1 => "linear1",
        _ => "linear2",
    };

    public override string ToString() => $"layer {Layer} {KindKey(Kind)}";
}
