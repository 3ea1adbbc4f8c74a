using UniPerceiverMoe.Model;
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

    internal static ScalarType Scalar(WireDtype dtype) => dtype switch
    {
        WireDtype.Float32 => ScalarType.Float32,
        WireDtype.Float16 => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };

    /// <summary>Copies <paramref name="tensor"/> (any device, any float type; not modified, still the caller's) into a
    /// self-contained payload of <paramref name="dtype"/> (an array: it may be kept, queued or sent later, as Akka does).
    /// The element type is converted on the tensor's device (a 16-bit wire type halves the bytes copied to the host);
    /// the one device → host copy goes through <see cref="DeviceStaging"/>.</summary>
    public static TensorPayload FromTensor(Tensor tensor, WireDtype dtype)
    {
        using var host = HostForm(tensor, dtype);
        return new TensorPayload(HostBytes(host).ToArray(), Name(dtype), TensorShapes.Of(host));
    }

    /// <summary>
    /// A payload of <paramref name="dtype"/> that reads <paramref name="tensor"/>'s memory when it is written: no copy
    /// for a float32 CPU tensor (else one host tensor in the wire type, owned by the payload). For a synchronous write
    /// (the data plane writes a frame on the sender's thread): <paramref name="tensor"/> must not change in place
    /// until the payload has been written, and the caller disposes the payload. Do not hand it to Akka (its
    /// serialization runs later, on another thread): use <see cref="FromTensor"/> there.
    /// </summary>
    public static TensorPayload View(Tensor tensor, WireDtype dtype)
    {
        var host = HostForm(tensor, dtype);
        try
        {
            // From a GPU the host form is a view of this thread's staging buffer, which the next call overwrites.
            if (tensor.device_type != TorchSharp.DeviceType.CPU)
            {
                var owned = host.clone();
                host.Dispose();
                host = owned;
            }
            return new TensorPayload(host.DetachFromDisposeScope(), Name(dtype));
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>The memory of <paramref name="host"/>, a contiguous CPU tensor (a payload's host form): the one place
    /// besides the conversions here where the payload code touches tensor memory (see HostCopySpecs).</summary>
    internal static Span<byte> HostBytes(Tensor host) => host.NumberOfElements == 0 ? [] : host.bytes;

    /// <summary>A self-contained copy of <paramref name="payload"/> (see <see cref="FromTensor"/>).</summary>
    public static TensorPayload Copy(TensorPayload payload) => new(payload.Bytes.ToArray(), payload.Dtype, payload.Shape);

    /// <summary>The contiguous host tensor of <paramref name="dtype"/> for <paramref name="tensor"/>, owned by the caller;
    /// a float32 CPU tensor shares its storage (no detach or type ops: a hop's hot path).</summary>
    private static Tensor HostForm(Tensor tensor, WireDtype dtype)
    {
        if (dtype == WireDtype.Float32 && tensor.dtype == ScalarType.Float32 && tensor.device_type == TorchSharp.DeviceType.CPU)
            return DeviceStaging.ToHost(tensor);
        // Each step held in a using: a TorchSharp temporary outside a dispose scope could be finalized mid-call.
        using var detached = tensor.detach();
        using var converted = detached.to_type(Scalar(dtype));
        return DeviceStaging.ToHost(converted);
    }

    /// <summary>A new float32 tensor on <paramref name="device"/> (null: the CPU) from a validated payload, owned by the
    /// caller: the bytes cross to the device once, through <see cref="DeviceStaging"/>, and are converted to float32
    /// there. A payload read from the wire hands over the tensor its bytes were read into (on the CPU in float32, that
    /// tensor is the result: no copy); such a payload is converted once.</summary>
    public static Tensor ToTensor(TensorPayload payload, Device? device = null)
    {
        var dtype = ParseDtype(payload.Dtype, "payload");
        using var raw = payload.TakeHost() ?? FromBytes(payload, dtype);
        using var placed = DeviceStaging.FromHost(raw, device ?? CPU);
        return placed.to_type(ScalarType.Float32);   // float32 already: the same storage, no further copy
    }

    private static Tensor FromBytes(TensorPayload payload, WireDtype dtype)
    {
        var raw = empty(payload.Shape, Scalar(dtype), CPU);
        payload.Bytes.CopyTo(HostBytes(raw));
        return raw;
    }

    /// <summary>Payload bytes counted for wire accounting (data only; the envelope adds ~100 bytes).</summary>
    public static long Bytes(TensorPayload payload) => payload.ByteCount;
}
