namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>One remembered window: where it came from and its normalised retrieval features (visual input, one row).</summary>
public sealed record RememberedWindow(string StreamId, long Window, TimeSpan Start, TimeSpan End, float[] Features);

/// <summary>One window's similarity to a text of a text feed.</summary>
public sealed record WindowHit(RememberedWindow Window, double Score);

/// <summary>
/// The most recent windows of the streams a text feed is matched against (task match with a text feed), shared by
/// those streams' heads (writers) and the feed (reader). Holds at most <see cref="Capacity"/> windows across all
/// streams, oldest dropped first, so memory stays bounded however long the streams run. Thread-safe.
/// </summary>
public sealed class WindowMemory
{
    private readonly LinkedList<RememberedWindow> windows = new();

    public WindowMemory(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public int Capacity { get; }

    /// <summary>Windows remembered so far (including those since dropped).</summary>
    public long Remembered { get; private set; }

    public int Count
    {
        get { lock (windows) return windows.Count; }
    }

    public void Remember(RememberedWindow window)
    {
        lock (windows)
        {
            windows.AddLast(window);
            Remembered++;
            if (windows.Count > Capacity) windows.RemoveFirst();
        }
    }

    /// <summary>The <paramref name="top"/> remembered windows most similar to <paramref name="text"/> (normalised
    /// text-target features), best first; ties keep the newer window first.</summary>
    public IReadOnlyList<WindowHit> Match(float[] text, int top)
    {
        RememberedWindow[] snapshot;
        lock (windows) snapshot = windows.Reverse().ToArray();
        return snapshot.Select(w => new WindowHit(w, Flows.TaskFlows.Cosine(w.Features, text)))
            .OrderByDescending(h => h.Score).Take(top).ToArray();
    }
}
