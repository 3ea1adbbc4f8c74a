using MessagePack;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>The element type of tensors on the wire (upmoe.cluster.wire-dtype).</summary>
public enum WireDtype
{
    /// <summary>Exact: the receiver gets the sender's float32 values bit for bit.</summary>
    Float32,
    /// <summary>Half the bytes; ~3 significant digits, overflows beyond ±65504.</summary>
    Float16,
    /// <summary>Half the bytes; float32's range with ~2 significant digits.</summary>
    BFloat16,
}

/// <summary>
/// A dense tensor as raw little-endian bytes, its element type and its shape. <see cref="Data"/> holds exactly
/// prod(<see cref="Shape"/>) elements of <see cref="Dtype"/> in row-major order (checked by <see cref="Validate"/>).
/// </summary>
[MessagePackObject]
public sealed record TensorPayload(
    [property: Key(0)] byte[] Data,
    [property: Key(1)] string Dtype,
    [property: Key(2)] long[] Shape)
{
    /// <summary>Most dimensions accepted from the wire.</summary>
    public const int MaxRank = 8;

    public void Validate(string field)
    {
        if (Data is null || Dtype is null || Shape is null) throw new InvalidDataException($"{field}: tensor payload with a missing field.");
        if (Shape.Length > MaxRank) throw new InvalidDataException($"{field}: rank {Shape.Length} exceeds {MaxRank}.");
        long elements = 1;
        foreach (var d in Shape)
        {
            if (d < 0) throw new InvalidDataException($"{field}: negative dimension in shape [{string.Join(", ", Shape)}].");
            elements = checked(elements * d);
        }
        long expected = checked(elements * TensorPayloads.ElementSize(TensorPayloads.ParseDtype(Dtype, field)));
        if (expected != Data.Length)
            throw new InvalidDataException($"{field}: {Data.Length} bytes for shape [{string.Join(", ", Shape)}] of {Dtype} (expected {expected}).");
    }
}
