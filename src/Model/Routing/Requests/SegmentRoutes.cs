namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>One segment of a whole-layer request: its token range and its four sub-routes (qkv, out-projection,
/// linear1, linear2).</summary>
public sealed record SegmentRoutes(int Start, int Length, Route Qkv, Route Dense, Route Linear1, Route Linear2)
{
    /// <summary>The four kinds in wire order.</summary>
    public static readonly MoeLinearKind[] Kinds = [MoeLinearKind.QkvProj, MoeLinearKind.Dense, MoeLinearKind.Linear1, MoeLinearKind.Linear2];

    public Route this[MoeLinearKind kind] => kind switch
    {
        MoeLinearKind.QkvProj => Qkv,
        MoeLinearKind.Dense => Dense,
        MoeLinearKind.Linear1 => Linear1,
        MoeLinearKind.Linear2 => Linear2,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an MoE linear."),
    };
}
