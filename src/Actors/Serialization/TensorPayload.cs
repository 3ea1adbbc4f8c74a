using UniPerceiverMoe.Model;
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
/// A dense tensor on the wire: raw little-endian bytes, their element type and the shape. <see cref="Bytes"/> holds
/// exactly prod(<see cref="Shape"/>) elements of <see cref="Dtype"/> in row-major order (checked by
/// <see cref="Validate"/>). On the wire it is <c>[bin data, str dtype, int[] shape]</c> (<see cref="TensorPayloadFormatter"/>).
/// <para>
/// The bytes live in one of two places. An array (<see cref="TensorPayload(byte[], string, long[])"/>,
/// <see cref="TensorPayloads.FromTensor"/>): the payload is self-contained and can go anywhere, Akka's mailboxes and
/// remoting included. Or a host tensor: a payload read from the wire holds its bytes in a tensor of its own (the
/// reader copies them there once, with no <c>byte[]</c> in between), which <see cref="TensorPayloads.ToTensor"/> takes
/// over; a payload made by <see cref="TensorPayloads.View"/> reads a caller's tensor when it is written. Such a
/// payload is <see cref="IDisposable"/>: whoever holds it last disposes it (a payload read from the wire and never
/// converted is released by the tensor's finalizer).
/// </para>
/// </summary>
[MessagePackFormatter(typeof(TensorPayloadFormatter))]
public sealed class TensorPayload : IDisposable
{
    private readonly byte[]? data;
    private Tensor? host;
    private bool disposed;

    /// <summary>A self-contained payload over <paramref name="data"/> (not copied: the caller gives it up).</summary>
    public TensorPayload(byte[] data, string dtype, long[] shape)
    {
        this.data = data;
        Dtype = dtype;
        Shape = shape;
        ByteCount = data?.LongLength ?? 0;
    }

    /// <summary>A payload over the bytes of <paramref name="host"/>, a contiguous CPU tensor of the wire type whose
    /// handle the payload owns (the storage may be shared with the caller's tensor: see <see cref="TensorPayloads.View"/>).</summary>
    internal TensorPayload(Tensor host, string dtype)
    {
        this.host = host;
        Dtype = dtype;
        Shape = TensorShapes.Of(host);
        ByteCount = host.NumberOfElements * host.ElementSize;
    }

    public string Dtype { get; }

    public long[] Shape { get; }

    /// <summary>Bytes of tensor data (what <see cref="Bytes"/> holds), known even after the tensor was taken over.</summary>
    public long ByteCount { get; }

    /// <summary>The payload's bytes: valid while the payload is neither disposed nor converted by <see cref="TakeHost"/>.</summary>
    public ReadOnlySpan<byte> Bytes
    {
        get
        {
            if (data is not null) return data;
            ObjectDisposedException.ThrowIf(disposed, this);
            if (host is null) throw new InvalidOperationException("this payload's tensor was handed over (TensorPayloads.ToTensor reads a payload once).");
            return TensorPayloads.HostBytes(host);
        }
    }

    /// <summary>The host tensor (if the bytes are in one) for the caller to own; the payload gives it up, so a second
    /// conversion fails instead of sharing a handle. Null for an array payload.</summary>
    internal Tensor? TakeHost()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var taken = host;
        host = null;
        return taken;
    }

    /// <summary>Most dimensions accepted from the wire.</summary>
    public const int MaxRank = 8;

    public void Validate(string field)
    {
        if (Dtype is null || Shape is null || (data is null && host is null)) throw new InvalidDataException($"{field}: tensor payload with a missing field.");
        long expected = ExpectedBytes(Dtype, Shape, field);
        if (expected != ByteCount)
            throw new InvalidDataException($"{field}: {ByteCount} bytes for shape [{string.Join(", ", Shape)}] of {Dtype} (expected {expected}).");
    }

    /// <summary>Bytes for <paramref name="shape"/> of <paramref name="dtype"/>; throws on a shape or type no payload may have.</summary>
    internal static long ExpectedBytes(string dtype, long[] shape, string field)
    {
        if (shape.Length > MaxRank) throw new InvalidDataException($"{field}: rank {shape.Length} exceeds {MaxRank}.");
        long elements = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new InvalidDataException($"{field}: negative dimension in shape [{string.Join(", ", shape)}].");
            elements = checked(elements * d);
        }
        return checked(elements * TensorPayloads.ElementSize(TensorPayloads.ParseDtype(dtype, field)));
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        host?.Dispose();
        host = null;
    }
}
