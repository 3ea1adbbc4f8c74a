// Copies raw little-endian bytes into a CPU tensor's memory in chunks, so tensors over 2 GiB (beyond one Span) load too.
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

internal static class TensorBytes
{
    /// <summary>Largest chunk copied through one <see cref="Span{T}"/>; element-aligned by the callers' arithmetic.</summary>
    internal const long DefaultChunkBytes = 1L << 30;

    /// <summary>Fills the contiguous CPU tensor <paramref name="dst"/> (all of its bytes) from <paramref name="src"/>.</summary>
    public static void Fill(Tensor dst, Stream src, long chunkBytes = DefaultChunkBytes)
    {
        ForEachChunk(dst, chunkBytes, span => src.ReadExactly(span));
    }

    /// <summary>Fills <paramref name="dst"/> from <paramref name="src"/>, which must hold at least as many bytes as the tensor.</summary>
    public static unsafe void Fill(Tensor dst, byte* src, long chunkBytes = DefaultChunkBytes)
    {
        long done = 0;
        ForEachChunk(dst, chunkBytes, span =>
        {
            new ReadOnlySpan<byte>(src + done, span.Length).CopyTo(span);
            done += span.Length;
        });
    }

    private delegate void SpanAction(Span<byte> span);

    private static void ForEachChunk(Tensor dst, long chunkBytes, SpanAction fill)
    {
        if (!dst.is_contiguous()) throw new ArgumentException("destination tensor must be contiguous", nameof(dst));
        long elemSize = dst.element_size();
        long total = dst.numel();
        if (total * elemSize <= chunkBytes)
        {
            if (total > 0) fill(dst.bytes);
            return;
        }
        long perChunk = Math.Max(1, chunkBytes / elemSize);
        using var flat = dst.view(-1);
        for (long start = 0; start < total; start += perChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(perChunk, total - start));
            fill(part.bytes);
        }
    }
}
