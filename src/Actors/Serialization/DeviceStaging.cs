using UniPerceiverMoe.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>Which way a tensor crossed between torch memory and the host (a wire payload) or between devices.</summary>
public enum CopyDirection
{
    /// <summary>Tensor → host bytes (a payload being encoded), or a tensor moved from a GPU to the CPU.</summary>
    DeviceToHost,
    /// <summary>Host bytes → tensor (a payload being decoded), or a tensor moved from the CPU to a GPU.</summary>
    HostToDevice,
}

/// <summary>
/// The only place where tensors leave or enter torch memory on the expert path, so that every such copy is staged the
/// same way and counted. From a GPU, results go through a pinned staging buffer (one per thread and element type,
/// grown as needed) with a non-blocking copy and one device synchronisation before the bytes are read; to a GPU,
/// payload bytes are pinned (libtorch's caching host allocator keeps the block until the copy has completed) and
/// copied non-blocking. On the CPU both are plain copies into or out of the payload. <see cref="Copied"/> fires once
/// per crossing: encoding a payload, decoding one, or a move between the CPU and a GPU.
/// </summary>
public static class DeviceStaging
{
    /// <summary>Raised once per crossing with its direction and the device on the torch side. A test hook: counting
    /// these per hop catches a regression that adds a copy, on the CPU as well as on a GPU.</summary>
    public static event Action<CopyDirection, DeviceType>? Copied;

    [ThreadStatic] private static Dictionary<ScalarType, Tensor>? staging;

    /// <summary>A contiguous CPU copy of <paramref name="tensor"/> (not modified, still the caller's), owned by the
    /// caller. From a GPU the result is a view of this thread's pinned staging buffer: read it before the next call on
    /// this thread.</summary>
    public static Tensor ToHost(Tensor tensor)
    {
        var device = tensor.device_type;
        Copied?.Invoke(CopyDirection.DeviceToHost, device);
        if (device == DeviceType.CPU) return tensor.contiguous();
        var buffer = Staging(tensor.dtype, tensor.NumberOfElements);
        using var prefix = buffer.narrow(0, 0, tensor.NumberOfElements);
        var host = prefix.view(TensorShapes.Of(tensor));
        try
        {
            host.copy_(tensor, nonBlocking: true);
            // The copy is queued on the device's stream: the bytes are valid only after it has run.
            cuda.synchronize(tensor.device);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>A copy of the CPU tensor <paramref name="host"/> on <paramref name="device"/>, owned by the caller
    /// (<paramref name="host"/> stays the caller's). On the CPU the result is <paramref name="host"/>'s storage under a
    /// new handle.</summary>
    public static Tensor FromHost(Tensor host, Device device)
    {
        Copied?.Invoke(CopyDirection.HostToDevice, device.type);
        if (device.type == DeviceType.CPU) return host.alias();
        using var pinned = host.pin_memory();
        return pinned.to(device, non_blocking: true);
    }

    /// <summary>
    /// <paramref name="tensor"/> on <paramref name="device"/>: a new handle on the same storage when it is there
    /// already (no copy), else a copy (GPU → GPU and CPU → GPU non-blocking; GPU → CPU blocking, as the host reads it
    /// next). The result is the caller's; <paramref name="tensor"/> stays the caller's.
    /// </summary>
    public static Tensor Move(Tensor tensor, Device device)
    {
        if (SameDevice(tensor.device, device)) return tensor.alias();
        var from = tensor.device_type;
        if (from == DeviceType.CPU) Copied?.Invoke(CopyDirection.HostToDevice, device.type);
        else if (device.type == DeviceType.CPU) Copied?.Invoke(CopyDirection.DeviceToHost, from);
        return tensor.to(device, non_blocking: device.type != DeviceType.CPU);
    }

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> name the same device ("cuda" = the current
    /// GPU, taken as index 0 of the process).</summary>
    public static bool SameDevice(Device a, Device b) =>
        a.type == b.type && (a.type == DeviceType.CPU || Math.Max(a.index, 0) == Math.Max(b.index, 0));

    /// <summary>This thread's pinned buffer for <paramref name="dtype"/>, holding at least <paramref name="elements"/>.
    /// Buffers live as long as their thread; they only grow (doubling), so a steady load allocates nothing.</summary>
    private static Tensor Staging(ScalarType dtype, long elements)
    {
        staging ??= new Dictionary<ScalarType, Tensor>();
        if (staging.TryGetValue(dtype, out var buffer) && buffer.NumberOfElements >= elements) return buffer;
        long capacity = Math.Max(elements, 2 * (buffer?.NumberOfElements ?? 0));
        using var pageable = empty([capacity], dtype, CPU);
        var pinned = pageable.pin_memory().DetachFromDisposeScope();
        buffer?.Dispose();
        staging[dtype] = pinned;
        return pinned;
    }
}
