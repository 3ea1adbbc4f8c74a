using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>A run of tokens [Start, Start+Length) of a sequence that share one attribute (hence one route per gate).</summary>
public readonly record struct RouteSegment(int Start, int Length, MoeAttribute Attribute)
{
    public int End => Start + Length;
}

/// <summary>
/// How the token axis of a batch [B, N, D] is routed: contiguous segments covering 0..N-1, the same for every row
/// of the batch. Fixed by the tokenizer stage before any layer runs (the reference's attribute rows: one row for
/// whole sequences, two rows for captioning).
/// </summary>
public sealed class TokenRouting
{
    public IReadOnlyList<RouteSegment> Segments { get; }
    public int Length { get; }

    public TokenRouting(IReadOnlyList<RouteSegment> segments)
    {
        if (segments.Count == 0) throw new ArgumentException("routing needs at least one segment.");
        int pos = 0;
        foreach (var s in segments)
        {
            if (s.Start != pos || s.Length <= 0)
                throw new ArgumentException($"routing segments must be contiguous and non-empty (segment at {s.Start} expected at {pos}).");
            pos = s.End;
        }
        Segments = segments;
        Length = pos;
    }

    /// <summary>All <paramref name="length"/> tokens use <paramref name="attribute"/>.</summary>
    public static TokenRouting Uniform(int length, MoeAttribute attribute) => new([new RouteSegment(0, length, attribute)]);

    /// <summary>The first <paramref name="prefix"/> tokens use <paramref name="first"/>, the rest <paramref name="rest"/>.</summary>
    public static TokenRouting Split(int length, int prefix, MoeAttribute first, MoeAttribute rest) =>
        prefix >= length ? Uniform(length, first)
        : prefix <= 0 ? Uniform(length, rest)
        : new([new RouteSegment(0, prefix, first), new RouteSegment(prefix, length - prefix, rest)]);

    /// <summary>
    /// Applies <paramref name="linear"/> to each segment of x [B, N, in] (checked against the routing) and concatenates
    /// the results on the token axis. Returns a new tensor owned by the caller; x stays the caller's.
    /// </summary>
    public Tensor ApplyPerSegment(Tensor x, Func<Tensor, MoeAttribute, Tensor> linear)
    {
        if (Length != x.size(1)) throw new ArgumentException($"routing covers {Length} tokens but the input has {x.size(1)}.");
        if (Segments.Count == 1) return linear(x, Segments[0].Attribute);
        var parts = new Tensor[Segments.Count];
        try
        {
            for (int i = 0; i < Segments.Count; i++)
            {
                using var slice = x.narrow(1, Segments[i].Start, Segments[i].Length);
                parts[i] = linear(slice, Segments[i].Attribute);
            }
            return cat(parts, 1);
        }
        finally
        {
            foreach (var part in parts) part?.Dispose();
        }
    }

    /// <summary>The routing of the first <paramref name="length"/> tokens.</summary>
    public TokenRouting Narrow(int length) => Slice(0, length);

    /// <summary>The routing of tokens [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>),
    /// renumbered from 0.</summary>
    public TokenRouting Slice(int start, int length)
    {
        if (start < 0 || length < 1 || start + length > Length)
            throw new ArgumentException($"cannot slice tokens [{start}, {start + length}) from a routing of {Length} tokens.");
        int end = start + length;
        return new(Segments.Where(s => s.End > start && s.Start < end)
            .Select(s => new RouteSegment(Math.Max(s.Start, start) - start, Math.Min(s.End, end) - Math.Max(s.Start, start), s.Attribute))
            .ToArray());
    }

    public override string ToString() => string.Join(" ", Segments.Select(s => $"[{s.Start},{s.End}):{s.Attribute}"));
}
