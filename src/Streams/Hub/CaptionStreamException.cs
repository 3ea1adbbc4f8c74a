namespace UniPerceiverMoe.Streams.Hub;

/// <summary>A caption stream stopped on an error; the message names the stream, its input and the reason.
/// Only that stream stops: the hub and every other stream keep running.</summary>
public sealed class CaptionStreamException(string streamId, string input, Exception inner)
    : Exception($"stream '{streamId}' ({input}) failed: {inner.Message}", inner)
{
    public string StreamId { get; } = streamId;
    public string Input { get; } = input;

    internal static Exception Wrap(string streamId, string input, Exception e) =>
        e is CaptionStreamException ? e : new CaptionStreamException(streamId, input, e);
}
