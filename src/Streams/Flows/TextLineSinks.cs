using System.Globalization;
using Akka.Streams.Dsl;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>What the caption and event sinks share: one formatted line per element, written under a lock on the writer
/// (writers are shared between streams), and the stream clock they print.</summary>
internal static class TextLineSinks
{
    /// <summary>Writes <paramref name="format"/> of each element as one line; the task completes when the stream ends.</summary>
    public static Sink<T, Task> Lines<T>(TextWriter output, Func<T, string> format) =>
        Sink.ForEach<T>(element =>
        {
            var line = format(element);
            lock (output) output.WriteLine(line);
        }).MapMaterializedValue(t => (Task)t);

    /// <summary>A stream position as mm:ss.fff (h:mm:ss.fff from an hour on).</summary>
    public static string Clock(TimeSpan t) => t.ToString(t.TotalHours >= 1 ? @"h\:mm\:ss\.fff" : @"mm\:ss\.fff", CultureInfo.InvariantCulture);
}
