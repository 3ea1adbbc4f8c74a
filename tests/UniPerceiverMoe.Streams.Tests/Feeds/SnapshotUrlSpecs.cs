using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Streams.Tests.Feeds;

/// <summary>An HTTP snapshot URL polled at a rate: each reply is one frame, in order, with its pixels; a reply that is
/// not an image fails the feed naming the URL.</summary>
public sealed class SnapshotUrlSpecs : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly ActorSystem system = ActorSystem.Create("snapshots");
    private readonly HttpListener listener = new();
    private readonly string url;
    private int served;

    public SnapshotUrlSpecs()
    {
        int port = FreePort();
        url = $"http://127.0.0.1:{port}/snapshot.png";
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        _ = Task.Run(ServeAsync);
    }

    /// <summary>Reply k is an 8x8 PNG filled with the value 10·k; from reply <see cref="BrokenFrom"/> on, bytes that are no image.</summary>
    private int BrokenFrom { get; set; } = int.MaxValue;

    [Fact]
    public async Task Each_fetch_should_be_one_frame_in_order()
    {
        var frames = await FrameSources.SnapshotUrl(url, 20).Frames.Take(3).RunWith(Sink.Seq<VideoFrame>(), system.Materializer()).WaitAsync(Timeout);
        Assert.Equal([0L, 1L, 2L], frames.Select(f => (long)f.Index));
        Assert.Equal([0.0, 0.05, 0.1], frames.Select(f => Math.Round(f.Timestamp.TotalSeconds, 3)));
        Assert.Equal([(byte)0, (byte)10, (byte)20], frames.Select(f => f.Rgb[0]));
        Assert.All(frames, f => Assert.Equal((8, 8), (f.Height, f.Width)));
    }

    [Fact]
    public async Task A_reply_that_is_not_an_image_should_fail_the_feed_naming_the_url()
    {
        BrokenFrom = 1;
        var run = FrameSources.SnapshotUrl(url, 20).Frames.Take(3).RunWith(Sink.Seq<VideoFrame>(), system.Materializer());
        var error = await Assert.ThrowsAnyAsync<Exception>(() => run.WaitAsync(Timeout));
        Assert.Contains(url, error.Message);
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); }
            catch (Exception) { return; }
            int k = served++;
            byte[] body = k >= BrokenFrom ? [1, 2, 3, 4, 5] : PngWriter.EncodeRgb(Enumerable.Repeat((byte)(10 * k), 8 * 8 * 3).ToArray(), 8, 8);
            context.Response.ContentType = "image/png";
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        listener.Close();
        system.Terminate().Wait();
    }
}
