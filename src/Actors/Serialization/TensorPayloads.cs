using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>Tensor ⇄ <see cref="TensorPayload"/>. Every tensor handed back is float32 and owned by the caller.</summary>
public static class TensorPayloads
{
    static TensorPayloads()
    {
        // Payload bytes are little-endian; TorchSharp exposes a tensor's memory in host order.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("tensor payloads assume a little-endian host.");
    }

    public static string Name(WireDtype dtype) => dtype switch
    {
        WireDtype.Float32 => "float32",
        WireDtype.Float16 => "float16",
        _ => "bfloat16",
    };

    /// <summary>Parses a dtype name from config or the wire; <paramref name="field"/> names it in the error.</summary>
    public static WireDtype ParseDtype(string name, string field) => name switch
    {
        "float32" => WireDtype.Float32,
        "float16" => WireDtype.Float16,
        "bfloat16" => WireDtype.BFloat16,
        _ => throw new InvalidDataException($"{field}: dtype '{name}' is not one of float32, float16, bfloat16."),
    };

    public static int ElementSize(WireDtype dtype) => dtype == WireDtype.Float32 ? 4 : 2;

    private static ScalarType Scalar(WireDtype dtype) => dtype switch
    {
        WireDtype.Float32 => ScalarType.Float32,
        WireDtype.Float16 => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };

    /// <summary>Copies <paramref name="tensor"/> (any device, any float type; not modified, still the caller's) into a
    /// payload of <paramref name="dtype"/>. The element type is converted on the tensor's device (a 16-bit wire type
    /// halves the bytes copied to the host); the one device → host copy goes through <see cref="DeviceStaging"/>.</summary>
    public static TensorPayload FromTensor(Tensor tensor, WireDtype dtype)
    {
        // A float32 tensor in host memory needs no conversion: skip the detach and type ops (a hop's hot path).
        if (dtype == WireDtype.Float32 && tensor.dtype == ScalarType.Float32 && tensor.device_type == TorchSharp.DeviceType.CPU)
        {
            using var contiguous = DeviceStaging.ToHost(tensor);
            return new TensorPayload(contiguous.NumberOfElements == 0 ? [] : contiguous.bytes.ToArray(), Name(dtype), contiguous.shape);
        }
        // Each step held in a using: a TorchSharp temporary outside a dispose scope could be finalized mid-call.
        using var detached = tensor.detach();
        using var converted = detached.to_type(Scalar(dtype));
        using var host = DeviceStaging.ToHost(converted);
        var data = host.NumberOfElements == 0 ? [] : host.bytes.ToArray();
        return new TensorPayload(data, Name(dtype), host.shape);
    }

    /// <summary>A new float32 tensor on <paramref name="device"/> (null: the CPU) from a validated payload: the bytes
    /// cross to the device once, through <see cref="DeviceStaging"/>, and are converted to float32 there.</summary>
    public static Tensor ToTensor(TensorPayload payload, Device? device = null)
    {
        var dtype = ParseDtype(payload.Dtype, "payload");
        using var raw = empty(payload.Shape, Scalar(dtype), CPU);
        if (payload.Data.Length > 0) payload.Data.AsSpan().CopyTo(raw.bytes);
        using var placed = DeviceStaging.FromHost(raw, device ?? CPU);
        return placed.to_type(ScalarType.Float32);   // float32 already: the same storage, no further copy
    }

    /// <summary>Payload bytes counted for wire accounting (data only; the envelope adds ~100 bytes).</summary>
    public static long Bytes(TensorPayload payload) => payload.Data.LongLength;
}
