namespace UniPerceiverMoe.Model;

/// <summary>Identity of the model port (used in cache keys and version output).</summary>
public static class ModelInfo
{
    public const string Name = "Uni-Perceiver-MoE";
}
