using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>
/// A second MoE linear the same group applies after GELU (the encoder's FFN activation): with it, one request computes
/// a whole MoE FFN, linear2(gelu(linear1(x))), and the [.., ffn] intermediate never leaves the group (one hop instead
/// of two, and no 4·D-wide tensor on the wire). Only sent when one group owns both sub-routes whole.
/// </summary>
public sealed record ThenLinear(MoeSite Site, Route SubRoute);
