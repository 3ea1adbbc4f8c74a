using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Streams.Hub;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>Where a server stream is: running, ended (its input finished), stopped (by a request) or failed.</summary>
public enum StreamState
{
    Running,
    Ended,
    Stopped,
    Failed,
}

/// <summary>
/// A caption stream as the server sees it: the hub's <see cref="CaptionStream"/> plus what outlives it for the page
/// and the API: the latest decoded frame, the recent captions (<see cref="Feed"/>), the final state and error.
/// </summary>
public sealed class StreamEntry(string id, string source, CaptionFeed feed)
{
    private readonly object pngGate = new();
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private VideoFrame? latestFrame;
    private (int Index, byte[] Png)? encoded;
    private volatile bool stopRequested;
    private volatile StreamState state = StreamState.Running;
    private volatile string? error;

    public string Id { get; } = id;
    public string Source { get; } = source;
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public CaptionFeed Feed { get; } = feed;
    public CaptionStream? Stream { get; private set; }
    /// <summary>Written once, by the task following the stream (before <see cref="Ended"/> completes); read by requests.</summary>
    public StreamState State => state;
    public string? Error => error;

    /// <summary>Completes when the stream has ended, its counters are final and its feed is complete.</summary>
    public Task Ended => ended.Task;

    /// <summary>The source with a tap that remembers the latest frame (a reference: frames are never mutated).</summary>
    public FrameSource Tap(FrameSource source) =>
        source with { Frames = source.Frames.Select(f => { Volatile.Write(ref latestFrame, f); return f; }) };

    public void OnCaption(StreamCaption caption) =>
        Feed.Publish(new FeedEvent("caption", caption.Window.ToString(System.Globalization.CultureInfo.InvariantCulture), CaptionSinks.ToJson(caption)));

    /// <summary>Publishes a stream event: captions as <c>caption</c> (the caption JSON), classifications as
    /// <c>classification</c>, watch alerts as <c>alert</c> and match rankings as <c>match</c> (the JSON of <c>upmoe stream --json</c>).</summary>
    public void OnEvent(UniPerceiverMoe.Streams.Tasks.IStreamEvent e)
    {
        if (e is StreamCaption caption)
        {
            OnCaption(caption);
            return;
        }
        string type = e switch
        {
            UniPerceiverMoe.Streams.Tasks.StreamAlerts => "alert",
            UniPerceiverMoe.Streams.Tasks.StreamMatches => "match",
            _ => "classification",
        };
        Feed.Publish(new FeedEvent(type, e.Window.ToString(System.Globalization.CultureInfo.InvariantCulture), EventSinks.ToJson(e)));
    }

    /// <summary>The latest frame as PNG (encoded once per frame), or null before the first frame.</summary>
    public byte[]? LatestPng()
    {
        var frame = Volatile.Read(ref latestFrame);
        if (frame is null) return null;
        lock (pngGate)
        {
            if (encoded is { } e && e.Index == frame.Index) return e.Png;
            var png = PngEncoder.EncodeRgb(frame.Rgb, frame.Width, frame.Height);
            encoded = (frame.Index, png);
            return png;
        }
    }

    public void RequestStop()
    {
        stopRequested = true;
        Stream?.Stop();
    }

    /// <summary>Binds the running hub stream and follows it to its end.</summary>
    internal async Task RunAsync(CaptionStream stream, Action<StreamEntry> onEnded)
    {
        Stream = stream;
        if (stopRequested) stream.Stop();
        try
        {
            await stream.Completion.ConfigureAwait(false);
            state = stopRequested ? StreamState.Stopped : StreamState.Ended;
        }
        catch (Exception e)
        {
            error = InputErrors.OneLine(e.Message);
            state = StreamState.Failed;
        }
        Feed.Complete();
        onEnded(this);
        ended.TrySetResult();
    }
}
