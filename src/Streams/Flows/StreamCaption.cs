using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>A caption of one window of a stream. <paramref name="Window"/>: the window's sequence number in the
/// stream; <paramref name="Start"/>/<paramref name="End"/>: timestamps of its first and last frame;
/// <paramref name="Ids"/>: the best beam's token ids up to end-of-text; <paramref name="Latency"/>: from the
/// window's last frame arriving to the caption leaving the decode stage.</summary>
public sealed record StreamCaption(string StreamId, long Window, TimeSpan Start, TimeSpan End, IReadOnlyList<int> FrameIndices,
    IReadOnlyList<long> Ids, string Text, float Score, TimeSpan Latency) : IStreamEvent
{
    public string Task => "caption";
}
