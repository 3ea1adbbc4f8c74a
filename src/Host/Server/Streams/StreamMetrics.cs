using Prometheus;
using UniPerceiverMoe.Host.Server.Metrics;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>Per-stream series, labelled by stream id: window counters and queue depths copied from each stream's
/// <see cref="UniPerceiverMoe.Streams.Metrics.StreamStats"/> at every scrape, caption latency observed per caption.
/// A stream's series are removed when the registry forgets the stream (bounded label set).</summary>
public sealed class StreamMetrics
{
    private readonly Counter windowsIn, captioned, dropped, failed, emitted;
    private readonly Gauge buffered, inFlight, clients, streams;
    private readonly Histogram latency;

    public StreamMetrics(IMetricFactory factory)
    {
        windowsIn = factory.CreateCounter("upmoe_stream_windows_in_total", "Windows sampled from a stream's frames.", ["stream"]);
        captioned = factory.CreateCounter("upmoe_stream_windows_captioned_total", "Windows of a stream the engine captioned.", ["stream"]);
        dropped = factory.CreateCounter("upmoe_stream_windows_dropped_total", "Windows of a stream dropped on purpose (overload, stop).", ["stream"]);
        failed = factory.CreateCounter("upmoe_stream_windows_failed_total", "Windows of a stream whose preprocessing or engine call failed.", ["stream"]);
        emitted = factory.CreateCounter("upmoe_stream_captions_emitted_total", "Captions a stream delivered.", ["stream"]);
        buffered = factory.CreateGauge("upmoe_stream_buffered_windows", "Windows waiting in a stream's overload buffer (queue depth).", ["stream"]);
        inFlight = factory.CreateGauge("upmoe_stream_in_flight_windows", "Windows of a stream at the batcher or engine (queue depth).", ["stream"]);
        clients = factory.CreateGauge("upmoe_stream_event_clients", "Clients following a stream's event stream.", ["stream"]);
        streams = factory.CreateGauge("upmoe_streams", "Streams the server knows, by state.", ["state"]);
        latency = factory.CreateHistogram("upmoe_stream_caption_latency_seconds", "Window ready (last frame arrived) to caption emitted, per stream.",
            new HistogramConfiguration { LabelNames = ["stream"], Buckets = UpmoeMetrics.LatencyBuckets });
    }

    public void ObserveCaption(string stream, TimeSpan value) => latency.WithLabels(stream).Observe(value.TotalSeconds);

    public void Update(IReadOnlyCollection<StreamEntry> entries)
    {
        foreach (var state in Enum.GetValues<StreamState>())
            streams.WithLabels(state.ToString().ToLowerInvariant()).Set(entries.Count(e => e.State == state));
        foreach (var entry in entries)
        {
            if (entry.Stream?.Stats is not { } s) continue;
            string id = entry.Id;
            windowsIn.WithLabels(id).IncTo(s.WindowsIn.Value);
            captioned.WithLabels(id).IncTo(s.Captioned.Value);
            dropped.WithLabels(id).IncTo(s.Dropped.Value);
            failed.WithLabels(id).IncTo(s.Failed.Value);
            emitted.WithLabels(id).IncTo(s.Emitted.Value);
            buffered.WithLabels(id).Set(s.Buffered);
            inFlight.WithLabels(id).Set(s.InFlight);
            clients.WithLabels(id).Set(entry.Feed.Subscribers);
        }
    }

    public void Remove(string stream)
    {
        foreach (var c in new[] { windowsIn, captioned, dropped, failed, emitted }) c.RemoveLabelled(stream);
        foreach (var g in new[] { buffered, inFlight, clients }) g.RemoveLabelled(stream);
        latency.RemoveLabelled(stream);
    }
}
