using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Dispatch;

/// <summary>
/// Hop batching: requests that arrive for a group while it has one in flight go as one request, and every caller gets
/// its own rows back (the same values as alone), or the batch's failure, or its own timeout.
/// </summary>
public sealed class HopBatchingTransportSpecs
{
    private static readonly MoeSite Site = new(0, MoeLinearKind.Linear1);
    private static readonly Route RouteA = new([0, 1], [0.75f, 0.25f]), RouteB = new([2, 3], [0.5f, 0.5f]);

    [Fact]
    public async Task Requests_that_wait_behind_one_in_flight_should_share_one_request_and_each_get_its_own_rows()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        var inputs = new[] { Rows(1, [1, 5, 4]), Rows(2, [2, 3, 4]), Rows(3, [7, 4]), Rows(4, [1, 1, 4]) };

        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), inputs[0].alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);                                      // in flight: the others wait behind it
        var rest = inputs.Skip(1).Select(x => batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30))).ToArray();
        inner.Release();
        var outputs = await Task.WhenAll([first, .. rest]);

        Assert.Equal(2, inner.Calls.Count);                          // the first alone, then the other three together
        Assert.Equal(5, inner.Calls[0]);
        Assert.Equal(6 + 7 + 1, inner.Calls[1]);
        for (int i = 0; i < inputs.Length; i++)
        {
            using var alone = inner.Compute(inputs[i]);
            Assert.Equal(alone.shape, outputs[i].shape);
            Assert.True(Same(alone, outputs[i]), $"request {i}'s rows differ from its unbatched result");
        }
        foreach (var t in inputs.Concat(outputs)) t.Dispose();
    }

    [Fact]
    public async Task Requests_computing_different_things_should_never_share_a_batch()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [3, 4]);
        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);
        var a = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        var b = batching.ApplyAsync("g", new LinearRequest(Site, RouteB), x.alias(), TimeSpan.FromSeconds(30));
        var c = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        inner.Release();
        foreach (var t in await Task.WhenAll(first, a, b, c)) t.Dispose();
        Assert.Equal([RouteA, RouteA, RouteB], inner.Routes);          // a and c together, b on its own
        Assert.Equal([3, 6, 3], inner.Calls);
    }

    [Fact]
    public async Task A_group_failing_in_the_middle_of_a_batch_should_fail_each_member_and_serve_the_next_request()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [2, 4]);
        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);
        inner.FailCall = 2;                                           // the batch behind it fails in the group
        var members = Enumerable.Range(0, 3).Select(_ => batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30))).ToArray();
        inner.Release();
        (await first).Dispose();
        foreach (var m in members)
            Assert.Contains("group failed", (await Assert.ThrowsAsync<ExpertGroupException>(() => m)).Message);
        using var after = await batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        using var alone = inner.Compute(x);
        Assert.True(Same(alone, after));
    }

    [Fact]
    public async Task A_request_waiting_behind_a_hung_one_should_time_out_at_its_own_deadline()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [2, 4]);
        var hung = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);
        var waiting = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAsync<TimeoutException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(hung.IsCompleted);
        inner.Release();
        (await hung).Dispose();
        Assert.Equal([2], inner.Calls);                               // the expired request was never sent
    }

    [Fact]
    public async Task Requests_waiting_behind_a_hung_one_should_go_together_after_max_wait()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner, maxWait: TimeSpan.FromMilliseconds(100));
        using var x = Rows(1, [2, 4]);
        var hung = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);
        var a = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        var b = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);                                       // sent while the first is still in flight
        Assert.False(hung.IsCompleted);
        Assert.Equal([2, 4], inner.Calls);
        inner.Release();
        using var alone = inner.Compute(x);
        foreach (var result in await Task.WhenAll(hung, a, b))
            using (result) Assert.True(Same(alone, result));
    }

    [Fact]
    public async Task A_fail_fast_request_should_never_share_a_batch_with_a_patient_one()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [2, 4]);
        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30), failFast: true);
        await inner.Arrived(1);
        var a = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30), failFast: true);
        var b = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30), failFast: false);
        var c = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30), failFast: true);
        inner.Release();
        foreach (var t in await Task.WhenAll(first, a, b, c)) t.Dispose();
        Assert.Equal([2, 4, 2], inner.Calls);                          // a and c together, b on its own terms
        Assert.Equal([true, true, false], inner.FailFasts);
    }

    [Fact]
    public async Task A_member_should_time_out_at_its_own_deadline_while_its_batch_is_in_flight()
    {
        using var inner = new GatedLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [2, 4]);
        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Arrived(1);
        var quick = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(2));
        var patient = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        inner.ReleaseOne();                                           // the first answers; quick and patient go as one batch
        (await first).Dispose();
        await inner.Arrived(1);
        Assert.Equal([2, 4], inner.Calls);
        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => quick.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("in flight", timedOut.Message);
        Assert.False(patient.IsCompleted);
        inner.Release();
        using var result = await patient;
        using var alone = inner.Compute(x);
        Assert.True(Same(alone, result));
    }

    [Fact]
    public async Task The_next_batch_should_never_be_sent_from_the_thread_that_completed_the_previous_reply()
    {
        using var inner = new ReaderThreadLinear();
        var batching = Batching(inner);
        using var x = Rows(1, [2, 4]);
        var first = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        await inner.Sent.WaitAsync(TimeSpan.FromSeconds(20));
        var queued = batching.ApplyAsync("g", new LinearRequest(Site, RouteA), x.alias(), TimeSpan.FromSeconds(30));
        inner.CompleteOnReaderThread();                               // as a data-plane connection's reader does
        (await first).Dispose();
        (await queued.WaitAsync(TimeSpan.FromSeconds(20))).Dispose();
        Assert.Equal(2, inner.CallerThreads.Count);
        Assert.DoesNotContain(inner.ReaderThreadId, inner.CallerThreads);
    }

    /// <summary>Completes its first request synchronously on a thread of its own (the way a data-plane connection's reader
    /// completes replies); later requests complete at once. Records the thread each request was sent from.</summary>
    private sealed class ReaderThreadLinear : IExpertGroupTransport, IDisposable
    {
        private readonly Tensor weight = Rows(99, [4, 6]);
        private readonly TaskCompletionSource<Tensor> held = new();   // synchronous continuations, on purpose
        private readonly TaskCompletionSource sent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Tensor? heldInput;

        public List<int> CallerThreads { get; } = [];
        public int ReaderThreadId { get; private set; } = -1;
        public Task Sent => sent.Task;

        public Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
        {
            lock (CallerThreads) CallerThreads.Add(Environment.CurrentManagedThreadId);
            if (heldInput is null)
            {
                heldInput = input;
                sent.TrySetResult();
                return held.Task;
            }
            using (input) return Task.FromResult(input.matmul(weight));
        }

        public void CompleteOnReaderThread()
        {
            var reader = new Thread(() =>
            {
                using var input = heldInput!;
                held.SetResult(input.matmul(weight));
            });
            reader.Start();
            ReaderThreadId = reader.ManagedThreadId;
            reader.Join();
        }

        public void Dispose() => weight.Dispose();
    }

    /// <summary>Batching over <paramref name="inner"/>: room for every spec's rows, and a max-wait no spec reaches unless it sets one.</summary>
    private static HopBatchingTransport Batching(IExpertGroupTransport inner, TimeSpan? maxWait = null) =>
        new(inner, maxRows: 1000, maxWait ?? TimeSpan.FromSeconds(30), new Counter(), new Counter());

    /// <summary>Bit for bit equal.</summary>
    private static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var equal = a.eq(b);
        using var all = equal.all();
        return all.item<bool>();
    }

    /// <summary>Rows with values that tell requests apart.</summary>
    private static Tensor Rows(int seed, long[] shape)
    {
        using var generator = new Generator((ulong)seed);
        return randn(shape, generator: generator);
    }

    /// <summary>A group computing x·W (W fixed) that holds each request until released, and can fail the next one.</summary>
    private sealed class GatedLinear : IExpertGroupTransport, IDisposable
    {
        private readonly Tensor weight = Rows(99, [4, 6]);
        private readonly SemaphoreSlim arrivals = new(0);
        private readonly SemaphoreSlim gate = new(0);

        public List<long> Calls { get; } = [];
        public List<Route> Routes { get; } = [];
        public List<bool> FailFasts { get; } = [];
        /// <summary>The call (1-based) that fails; 0 = none.</summary>
        public volatile int FailCall;

        public async Task Arrived(int n)
        {
            for (int i = 0; i < n; i++) Assert.True(await arrivals.WaitAsync(TimeSpan.FromSeconds(20)), "no request reached the group");
        }

        /// <summary>Lets every request through, held or yet to come.</summary>
        public void Release() => gate.Release(int.MaxValue / 2);

        /// <summary>Lets one held request through.</summary>
        public void ReleaseOne() => gate.Release();

        public Tensor Compute(Tensor input) => input.matmul(weight);

        public async Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
        {
            using (input)
            {
                int call;
                lock (Calls)
                {
                    Calls.Add(input.NumberOfElements / input.shape[^1]);
                    Routes.Add(request.SubRoute);
                    FailFasts.Add(failFast);
                    call = Calls.Count;
                }
                arrivals.Release();
                await gate.WaitAsync();
                if (call == FailCall) throw new ExpertGroupException("group failed on purpose");
                return Compute(input);
            }
        }

        public void Dispose() => weight.Dispose();
    }
}
