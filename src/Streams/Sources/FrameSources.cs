using System.Runtime.CompilerServices;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Streams.Sources;

/// <summary>Factories for the inputs a caption stream can read. Each source reads only when the stream pulls
/// (ffmpeg blocks on its pipe instead of buffering), and stopping the stream stops the reader (ffmpeg is killed).</summary>
public static class FrameSources
{
    /// <summary>A video file decoded by ffmpeg at <paramref name="fps"/> frames per second. With
    /// <paramref name="realtime"/> the frames are released at their timestamps, as from a live camera.</summary>
    public static FrameSource VideoFile(string path, double fps, bool realtime = false) =>
        new(path, fps, Live: realtime, Paced: realtime, Ffmpeg(path, fps));

    /// <summary>A URL ffmpeg can open (rtsp://, http(s)://, udp://, …): live, never back-pressured past the
    /// overload buffer. <paramref name="realtime"/> paces it too (for URLs of files rather than live feeds).</summary>
    public static FrameSource Url(string url, double fps, bool realtime = false) =>
        new(url, fps, Live: true, Paced: realtime, Ffmpeg(url, fps));

    /// <summary>Raw rgb24 frames of <paramref name="width"/> x <paramref name="height"/> read back to back from
    /// <paramref name="input"/> (e.g. stdin fed by <c>ffmpeg -f rawvideo -pix_fmt rgb24 -</c>), indexed at
    /// <paramref name="fps"/>. A truncated last frame fails the stream with an error naming <paramref name="name"/>.</summary>
    public static FrameSource RawRgb(Stream input, int width, int height, double fps, string name = "stdin") =>
        new(name, fps, Live: true, Paced: false, Source.From(() => ReadRaw(input, width, height, fps, name)));

    /// <summary>The PNG / JPEG files of <paramref name="directory"/> in ordinal name order as frames at
    /// <paramref name="fps"/>; all must have the first image's size.</summary>
    public static FrameSource ImageFolder(string directory, double fps, bool realtime = false) =>
        new(directory, fps, Live: realtime, Paced: realtime, Source.From(() => ReadImages(directory, fps)));

    /// <summary>A watched folder: its PNG / JPEG files in ordinal name order, then each new file as it appears (checked
    /// every <paramref name="poll"/>), as frames at <paramref name="fps"/>, until the stream is stopped. Live (a camera
    /// dropping snapshots into a folder cannot be slowed down). A file is read once it has stopped growing between two
    /// checks; all must have the first image's size.</summary>
    public static FrameSource WatchedFolder(string directory, double fps, TimeSpan poll) =>
        new(directory, fps, Live: true, Paced: false, Source.From(() => WatchImages(directory, fps, poll)));

    /// <summary>An HTTP(S) snapshot URL (a camera's still-image endpoint) fetched <paramref name="rate"/> times per
    /// second, each PNG / JPEG reply one frame, until the stream is stopped. Live. A reply that is not an image or a
    /// failed request fails the stream with an error naming the URL.</summary>
    public static FrameSource SnapshotUrl(string url, double rate, HttpClient? client = null) =>
        new(url, rate, Live: true, Paced: false, Source.From(() => PollSnapshots(url, rate, client)));

    /// <summary>A synthetic live camera for load tests: <paramref name="duration"/> of <paramref name="width"/> x
    /// <paramref name="height"/> frames at <paramref name="fps"/>, paced, cycling through one second of distinct
    /// pre-rendered frames (shared read-only arrays, so memory does not grow with the duration).</summary>
    public static FrameSource Synthetic(string name, int width, int height, double fps, TimeSpan duration, int seed = 0)
    {
        int distinct = Math.Max(1, (int)Math.Round(fps));
        var rgb = Enumerable.Range(0, distinct).Select(k => Pattern(width, height, k + seed * distinct)).ToArray();
        long count = (long)(duration.TotalSeconds * fps);
        var frames = Source.From(Enumerable.Range(0, (int)count)
            .Select(i => new VideoFrame(i, TimeSpan.FromSeconds(i / fps), rgb[i % distinct], height, width)));
        return new FrameSource(name, fps, Live: true, Paced: true, frames);
    }

    private static byte[] Pattern(int width, int height, int k)
    {
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * 3;
                rgb[o] = (byte)(x + 4 * k);
                rgb[o + 1] = (byte)(y + 8 * k);
                rgb[o + 2] = (byte)((x ^ y) + 16 * k);
            }
        return rgb;
    }

    private static Source<VideoFrame, Akka.NotUsed> Ffmpeg(string input, double fps) =>
        Source.From(() => FfmpegVideoReader.ReadFramesAsync(input, new FfmpegOptions { Fps = fps }));

    private static async IAsyncEnumerable<VideoFrame> ReadRaw(Stream input, int width, int height, double fps, string name,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"{name}: raw frame size {width}x{height} is not positive.");
        int frameBytes = checked(width * height * 3);
        for (int index = 0; ; index++)
        {
            var buffer = new byte[frameBytes];
            int filled = 0;
            while (filled < frameBytes)
            {
                int n = await input.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false);
                if (n == 0) break;
                filled += n;
            }
            if (filled == 0) yield break;
            if (filled < frameBytes)
                throw new VideoDecodeException(name, $"raw rgb24 input ended inside frame {index} ({filled} of {frameBytes} bytes for {width}x{height})");
            yield return new VideoFrame(index, TimeSpan.FromSeconds(index / fps), buffer, height, width);
        }
    }

    private static async IAsyncEnumerable<VideoFrame> WatchImages(string directory, double fps, TimeSpan poll,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"image folder '{directory}' does not exist");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        int index = 0, h0 = 0, w0 = 0;
        while (!ct.IsCancellationRequested)
        {
            var ready = new List<string>();
            foreach (var file in ImageFiles(directory).Where(f => !seen.Contains(f)))
            {
                long length = new FileInfo(file).Length;
                // A file still being written grows between two checks: read it once its size has held still.
                if (sizes.TryGetValue(file, out var before) && before == length && length > 0) ready.Add(file);
                sizes[file] = length;
            }
            foreach (var file in ready)
            {
                seen.Add(file);
                sizes.Remove(file);
                var (rgb, h, w) = await Task.Run(() => ImageDecoder.DecodeRgb(file), ct).ConfigureAwait(false);
                if (index == 0) (h0, w0) = (h, w);
                else if (h != h0 || w != w0) throw new InvalidDataException($"image '{file}' is {w}x{h}, but the folder's first image is {w0}x{h0}");
                yield return new VideoFrame(index, TimeSpan.FromSeconds(index / fps), rgb, h, w);
                index++;
            }
            await Task.Delay(poll, ct).ConfigureAwait(false);
        }
    }

    private static async IAsyncEnumerable<VideoFrame> PollSnapshots(string url, double rate, HttpClient? client,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        if (!(rate > 0)) throw new ArgumentException($"snapshot URL {url}: the poll rate must be positive (got {rate}).");
        var http = client ?? new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var period = TimeSpan.FromSeconds(1 / rate);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int h0 = 0, w0 = 0;
            for (int index = 0; !ct.IsCancellationRequested; index++)
            {
                byte[] body;
                try
                {
                    body = await http.GetByteArrayAsync(url, ct).ConfigureAwait(false);
                }
                catch (HttpRequestException e)
                {
                    throw new VideoDecodeException(url, $"snapshot {index} could not be fetched: {e.Message}");
                }
                var (rgb, h, w) = ImageDecoder.DecodeRgb(body, $"snapshot {index} of {url}");
                if (index == 0) (h0, w0) = (h, w);
                else if (h != h0 || w != w0) throw new VideoDecodeException(url, $"snapshot {index} is {w}x{h}, but the first was {w0}x{h0}");
                yield return new VideoFrame(index, TimeSpan.FromSeconds(index / rate), rgb, h, w);
                var wait = period * (index + 1) - clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (client is null) http.Dispose();
        }
    }

    private static IEnumerable<string> ImageFiles(string directory) =>
        Directory.EnumerateFiles(directory)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg")
            .Order(StringComparer.Ordinal);

    private static async IAsyncEnumerable<VideoFrame> ReadImages(string directory, double fps, [EnumeratorCancellation] CancellationToken ct = default)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"image folder '{directory}' does not exist");
        var files = ImageFiles(directory).ToArray();
        if (files.Length == 0) throw new InvalidDataException($"image folder '{directory}' holds no .png, .jpg or .jpeg file");
        int h0 = 0, w0 = 0;
        for (int index = 0; index < files.Length; index++)
        {
            ct.ThrowIfCancellationRequested();
            var (rgb, h, w) = await Task.Run(() => ImageDecoder.DecodeRgb(files[index]), ct).ConfigureAwait(false);
            if (index == 0) (h0, w0) = (h, w);
            else if (h != h0 || w != w0)
                throw new InvalidDataException($"image '{files[index]}' is {w}x{h}, but the folder's first image is {w0}x{h0}");
            yield return new VideoFrame(index, TimeSpan.FromSeconds(index / fps), rgb, h, w);
        }
    }
}
