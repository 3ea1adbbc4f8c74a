using UniPerceiverMoe.Actors.Memory;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Actors.Tests.Memory;

/// <summary>The engine gives freed native memory back only when no request is in flight, never on a request's
/// thread, and at most once per interval; an idle moment inside the interval is trimmed when it ends.</summary>
public sealed class IdleHeapTrimmerSpecs
{
    private readonly ManualTime time = new();
    private readonly Counter trims = new();
    private int calls;

    private IdleHeapTrimmer Trimmer(TimeSpan interval, bool available = true, TimeSpan idleDelay = default) =>
        new(interval, () => { calls++; return available; }, trims, time, idleDelay);

    [Fact]
    public void The_last_request_to_finish_should_queue_one_trim_and_none_while_another_is_in_flight()
    {
        var trimmer = Trimmer(TimeSpan.FromSeconds(1));
        trimmer.Started();
        trimmer.Started();
        trimmer.Finished();
        Assert.Empty(time.Due);                 // one request still in flight
        trimmer.Finished();
        Assert.Equal(0, calls);                 // queued, not run on the finishing thread
        time.FireDue();
        Assert.Equal(1, calls);
        Assert.Equal(1, trims.Value);
    }

    [Fact]
    public void A_queued_trim_should_be_skipped_when_a_request_started_before_it_ran()
    {
        var trimmer = Trimmer(TimeSpan.FromSeconds(1));
        trimmer.Started();
        trimmer.Finished();
        trimmer.Started();
        time.FireDue();
        Assert.Equal(0, calls);
        trimmer.Finished();
        time.FireDue();
        Assert.Equal(1, calls);
    }

    [Fact]
    public void An_idle_moment_inside_the_interval_should_be_trimmed_when_the_interval_ends()
    {
        var trimmer = Trimmer(TimeSpan.FromSeconds(1));
        trimmer.Started();
        trimmer.Finished();
        time.FireDue();
        time.Advance(TimeSpan.FromMilliseconds(300));
        trimmer.Started();
        trimmer.Finished();
        time.FireDue();                         // too soon: it waits for the rest of the interval
        Assert.Equal(1, calls);
        Assert.Equal(TimeSpan.FromMilliseconds(700), Assert.Single(time.Due).Delay);
        time.Advance(TimeSpan.FromMilliseconds(700));
        time.FireDue();
        Assert.Equal(2, calls);
    }

    [Fact]
    public void No_trim_should_be_made_without_requests_since_the_last_one_when_disabled_or_where_it_is_unavailable()
    {
        var idle = Trimmer(TimeSpan.FromSeconds(1));
        idle.Started();
        idle.Finished();
        time.FireDue();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(time.Due);                 // nothing new was freed: no second trim

        var off = Trimmer(TimeSpan.Zero);
        off.Started();
        off.Finished();
        Assert.Empty(time.Due);

        var unavailable = Trimmer(TimeSpan.FromSeconds(1), available: false);
        for (int i = 0; i < 2; i++)
        {
            unavailable.Started();
            unavailable.Finished();
            time.Advance(TimeSpan.FromSeconds(2));
            time.FireDue();
        }
        Assert.Equal(2, calls);                 // the first trimmer's one, and the unavailable one's single try
        Assert.Equal(1, trims.Value);
    }

    [Fact]
    public void A_trim_should_wait_until_the_engine_has_stayed_idle_for_the_idle_delay()
    {
        var trimmer = Trimmer(TimeSpan.FromSeconds(1), idleDelay: TimeSpan.FromSeconds(2));
        trimmer.Started();
        trimmer.Finished();
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.Single(time.Due).Delay);
        time.Advance(TimeSpan.FromMilliseconds(1500));
        trimmer.Started();                      // a steady stream: the next request comes before the delay ends
        trimmer.Finished();
        time.Advance(TimeSpan.FromMilliseconds(500));
        time.FireDue();
        Assert.Equal(0, calls);                 // idle for 0.5 s only: waits for the rest of the delay
        Assert.Equal(TimeSpan.FromMilliseconds(1500), Assert.Single(time.Due).Delay);
        time.Advance(TimeSpan.FromMilliseconds(1500));
        time.FireDue();
        Assert.Equal(1, calls);
    }

    [Fact]
    public void The_interval_and_delay_should_come_from_upmoe_engine_native_heap_trim_settings()
    {
        var reference = EngineSettings.FromConfig(UpmoeConfig.Reference);
        Assert.Equal(TimeSpan.FromSeconds(1), reference.NativeHeapTrimInterval);
        Assert.Equal(TimeSpan.FromSeconds(2), reference.NativeHeapTrimAfterIdle);
        Assert.True(reference.NativeHeapRetainFreed);
        var off = UpmoeConfig.Load([], ["upmoe.engine.native-heap-trim-interval = 0s"]);
        Assert.Equal(TimeSpan.Zero, EngineSettings.FromConfig(off).NativeHeapTrimInterval);
        var negative = UpmoeConfig.Load([], ["upmoe.engine.native-heap-trim-after-idle = -1s"]);
        Assert.Contains("native-heap-trim-after-idle", Assert.ThrowsAny<Exception>(() => EngineSettings.FromConfig(negative)).Message);
    }

    /// <summary>A clock that moves only when told, whose timers fire only through <see cref="FireDue"/>.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private readonly List<ManualTimer> timers = [];
        private long now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => now;

        public IReadOnlyList<ManualTimer> Due => timers.Where(t => !t.Disposed && !t.Fired).ToList();

        public void Advance(TimeSpan by) => now += by.Ticks;

        /// <summary>Fires the live timers whose delay has passed (delays are counted from their creation).</summary>
        public void FireDue()
        {
            foreach (var t in Due.Where(t => t.At <= now).ToList())
            {
                t.Fired = true;
                t.Callback(t.State);
            }
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(callback, state, dueTime, now + dueTime.Ticks);
            timers.Add(timer);
            return timer;
        }
    }

    private sealed class ManualTimer(TimerCallback callback, object? state, TimeSpan delay, long at) : ITimer
    {
        public TimerCallback Callback { get; } = callback;
        public object? State { get; } = state;
        public TimeSpan Delay { get; } = delay;
        public long At { get; } = at;
        public bool Fired { get; set; }
        public bool Disposed { get; private set; }
        public bool Change(TimeSpan dueTime, TimeSpan period) => throw new NotSupportedException();
        public void Dispose() => Disposed = true;
        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
