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

    /// <summary>Copies <paramref name="tensor"/> (any device, any float type; not modified, still the caller's) into a payload of <paramref name="dtype"/>.</summary>
    public static TensorPayload FromTensor(Tensor tensor, WireDtype dtype)
    {
        // A float32 tensor already in host memory and in row-major order is read as it is (no op, no temporary).
        if (dtype == WireDtype.Float32 && tensor.dtype == ScalarType.Float32 && tensor.device_type == TorchSharp.DeviceType.CPU && tensor.is_contiguous())
            return new TensorPayload(tensor.NumberOfElements == 0 ? [] : tensor.bytes.ToArray(), Name(dtype), tensor.shape);
        // Each step held in a using: a TorchSharp temporary outside a dispose scope could be finalized mid-call.
        using var detached = tensor.detach();
        using var converted = detached.to(Scalar(dtype), CPU);
        using var cpu = converted.contiguous();
        var data = cpu.NumberOfElements == 0 ? [] : cpu.bytes.ToArray();
        return new TensorPayload(data, Name(dtype), cpu.shape);
    }

    /// <summary>A new float32 tensor on <paramref name="device"/> from a validated payload.</summary>
    public static Tensor ToTensor(TensorPayload payload, Device? device = null)
    {
        var dtype = ParseDtype(payload.Dtype, "payload");
        var raw = empty(payload.Shape, Scalar(dtype), CPU);
        if (payload.Data.Length > 0) payload.Data.AsSpan().CopyTo(raw.bytes);
        if (dtype == WireDtype.Float32 && (device is null || device.type == TorchSharp.DeviceType.CPU)) return raw;   // already what we return
        using (raw) return raw.to(ScalarType.Float32, device ?? CPU, copy: true);
    }

    /// <summary>Payload bytes counted for wire accounting (data only; the envelope adds ~100 bytes).</summary>
    public static long Bytes(TensorPayload payload) => payload.Data.LongLength;
}
