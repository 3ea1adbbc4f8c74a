namespace UniPerceiverMoe.TestSupport;

/// <summary>The fixture README's suggested tolerances for an independent fp32 port.</summary>
public static class Tolerances
{
    public const double Hidden = 1e-4;
    public const double Features = 1e-5;
    public const double Logits = 2.5e-4;
    public const double Gates = 5e-6;
}
