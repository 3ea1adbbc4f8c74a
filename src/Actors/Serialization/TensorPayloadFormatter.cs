using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>
/// <see cref="TensorPayload"/> as the array <c>[bin data, str dtype, int[] shape]</c> (the layout MessagePack's
/// attribute formatter gave it before), written and read without a <c>byte[]</c> for the data:
/// <list type="bullet">
/// <item>writing copies the bytes straight from the payload's array or tensor into the frame;</item>
/// <item>reading copies them once, from the frame, into a new host tensor of the payload's type and shape (which
/// <see cref="TensorPayloads.ToTensor"/> then takes over). A fresh array per payload had cost a large-object
/// allocation, its zeroing and page faults, and background GCs: three quarters of a [197, 768] hop's CPU.</item>
/// </list>
/// A payload whose shape, type and byte count disagree is read into an array instead, so that
/// <see cref="TensorPayload.Validate"/> refuses it with the field at fault, as before.
/// </summary>
public sealed class TensorPayloadFormatter : IMessagePackFormatter<TensorPayload?>
{
    public void Serialize(ref MessagePackWriter writer, TensorPayload? value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }
        writer.WriteArrayHeader(3);
        writer.Write(value.Bytes);
        writer.Write(value.Dtype);
        writer.WriteArrayHeader(value.Shape.Length);
        foreach (var d in value.Shape) writer.Write(d);
    }

    public TensorPayload? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil()) return null;
        options.Security.DepthStep(ref reader);
        try
        {
            int fields = reader.ReadArrayHeader();
            ReadOnlySequence<byte>? data = null;
            string? dtype = null;
            long[]? shape = null;
            for (int i = 0; i < fields; i++)
            {
                switch (i)
                {
                    case 0: data = reader.ReadBytes(); break;              // a slice of the frame: nothing copied yet
                    case 1: dtype = reader.ReadString(); break;
                    case 2: shape = ReadShape(ref reader); break;
                    default: reader.Skip(); break;
                }
            }
            if (data is { } bytes && dtype is not null && shape is not null && Consistent(bytes, dtype, shape, out var type))
                return new TensorPayload(Filled(bytes, type, shape), dtype);
            // Missing or inconsistent: keep what came, for Validate to name.
            return new TensorPayload(data?.ToArray()!, dtype!, shape!);
        }
        finally
        {
            reader.Depth--;
        }
    }

    private static long[]? ReadShape(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return null;
        int rank = reader.ReadArrayHeader();   // bounded by the bytes left (MessagePack checks); Validate judges the rank
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = reader.ReadInt64();
        return shape;
    }

    private static bool Consistent(ReadOnlySequence<byte> bytes, string dtype, long[] shape, out WireDtype type)
    {
        type = default;
        try
        {
            if (TensorPayload.ExpectedBytes(dtype, shape, "payload") != bytes.Length) return false;
            type = TensorPayloads.ParseDtype(dtype, "payload");
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or OverflowException)
        {
            return false;
        }
    }

    /// <summary>A new CPU tensor of <paramref name="type"/> and <paramref name="shape"/> holding <paramref name="bytes"/>,
    /// outside any dispose scope of the reading thread (the payload owns it).</summary>
    private static Tensor Filled(ReadOnlySequence<byte> bytes, WireDtype type, long[] shape)
    {
        var tensor = empty(shape, TensorPayloads.Scalar(type), CPU).DetachFromDisposeScope();
        bytes.CopyTo(TensorPayloads.HostBytes(tensor));
        return tensor;
    }
}
