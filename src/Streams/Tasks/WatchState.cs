namespace UniPerceiverMoe.Streams.Tasks;

/// <summary>An alert of a watch query starting or stopping at a window.</summary>
public enum AlertKind { Start, Stop }

/// <summary>
/// The hysteresis of one standing query (one instance per query per stream materialization; not thread-safe): an
/// alert starts on the first score ≥ <c>threshold</c> and stops on the first score &lt; <c>threshold − hysteresis</c>.
/// Between the two levels the state holds, so a score hovering at the threshold by less than the hysteresis emits at
/// most one start and no stop.
/// </summary>
public sealed class WatchState(double threshold, double hysteresis)
{
    public bool Active { get; private set; }

    /// <summary>Feeds one window's score; returns the transition it causes, if any.</summary>
    public AlertKind? Observe(double score)
    {
        if (!Active && score >= threshold)
        {
            Active = true;
            return AlertKind.Start;
        }
        if (Active && score < threshold - hysteresis)
        {
            Active = false;
            return AlertKind.Stop;
        }
        return null;
    }
}
