namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// Blocks a thread until tasks complete without spinning first. <see cref="Task.WaitAll(Task[])"/> and
/// <c>GetAwaiter().GetResult()</c> spin (with sched_yield) before they block; a sequence executor waiting for its
/// expert hops would then take CPU from the very threads that produce its replies (data-plane readers, expert
/// groups, torch), which on a two-core machine costs more than the wake-up it saves.
/// </summary>
public static class BlockingWait
{
    /// <summary>Returns once every task has completed (successfully or not); throws nothing of theirs.</summary>
    public static void All(IReadOnlyList<Task> tasks)
    {
        if (tasks.All(t => t.IsCompleted)) return;
        using var countdown = new Countdown(tasks.Count);
        foreach (var task in tasks)
            task.ContinueWith(static (_, state) => ((Countdown)state!).Signal(), countdown, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        countdown.Wait();
    }

    /// <summary>Waits for <paramref name="task"/> and returns its result (or throws its exception, unwrapped).</summary>
    public static T Result<T>(Task<T> task)
    {
        All([task]);
        return task.GetAwaiter().GetResult();
    }

    /// <summary>A countdown whose waiter blocks at once (no spin phase).</summary>
    private sealed class Countdown(int count) : IDisposable
    {
        private readonly ManualResetEventSlim zero = new(false, spinCount: 0);
        private int remaining = count;

        public void Signal()
        {
            if (Interlocked.Decrement(ref remaining) == 0) zero.Set();
        }

        public void Wait() => zero.Wait();

        public void Dispose() => zero.Dispose();
    }
}
