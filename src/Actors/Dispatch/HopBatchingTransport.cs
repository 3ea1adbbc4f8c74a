using System.Collections.Concurrent;
using System.Diagnostics;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// Hop batching over any transport: while a group has a request in flight, the requests that arrive for it wait, and
/// when it answers, those that compute the same thing (<see cref="BatchKey"/>: the request's computation and its
/// constants, width) go as one request whose rows are theirs concatenated; the reply is split back by rows. The first
/// request of an idle group goes at once, so batching adds no latency to a lone sequence; under load one hop carries
/// the rows of several sequences (one request, one reply, one group computation instead of several). No request waits
/// behind the one in flight for longer than <c>maxWait</c>: then the waiting ones go anyway, as a second request in flight
/// (a request in flight to a node that just crashed may take seconds to fail over; the others must not wait for it).
/// <para>Invariants: every caller gets exactly its own rows back, in its own shape, or an exception (the batch's error,
/// or a timeout when its own deadline passes, waiting or in flight). A batch never mixes fail-fast requests (the caller
/// has another replica to try) with patient ones (the last replica, which rides out a re-homing), so neither waits on
/// the other's terms. Rows are independent under every request kind (a whole
/// layer's rows are whole sequences of one length), so a batched result equals the unbatched one row for row. A
/// failed batch fails each of its members (their dispatcher retries or fails over each on its own) and the group's
/// next batch goes as usual.</para>
/// Thread-safe. Counts the batches of two or more requests, and the requests that went in them.
/// </summary>
public sealed class HopBatchingTransport(IExpertGroupTransport inner, int maxRows, TimeSpan maxWait, Counter batches, Counter batchedRequests)
    : IExpertGroupTransport
{
    private readonly ConcurrentDictionary<string, Lane> lanes = new(StringComparer.Ordinal);

    public IExpertGroupTransport Inner => inner;

    public Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
    {
        var lane = lanes.GetOrAdd(groupId, _ => new Lane());
        var waiting = new Waiting(new BatchKey(request, input), input, timeout, failFast,
            Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));
        lock (lane)
        {
            if (lane.InFlight > 0)
            {
                lane.Queue.Add(waiting);
                // Its own deadline holds while it waits and while its batch is in flight: a hung request ahead of it,
                // or a more patient member of its batch, does not hold it past its timeout.
                waiting.Expiry = new Timer(_ => Expire(lane, waiting), null, timeout, Timeout.InfiniteTimeSpan);
                lane.Flush ??= new Timer(_ => Flush(groupId, lane), null, maxWait, Timeout.InfiniteTimeSpan);
                return waiting.Reply.Task;
            }
            lane.InFlight = 1;
        }
        _ = SendAsync(groupId, lane, [waiting]);
        return waiting.Reply.Task;
    }

    /// <summary><c>maxWait</c> after a request started waiting, the lane's request in flight has not answered: every
    /// waiting request goes now, in batches by key, each batch one more request in flight on the lane.</summary>
    private void Flush(string groupId, Lane lane)
    {
        var batches = new List<List<Waiting>>();
        lock (lane)
        {
            lane.Flush?.Dispose();
            lane.Flush = null;
            for (var batch = TakeBatch(lane); batch.Count > 0; batch = TakeBatch(lane)) batches.Add(batch);
            lane.InFlight += batches.Count;
        }
        foreach (var batch in batches) _ = SendAsync(groupId, lane, batch);
    }

    private void Expire(Lane lane, Waiting waiting)
    {
        bool queued;
        lock (lane)
        {
            queued = lane.Queue.Remove(waiting);
        }
        if (queued) waiting.Input.Dispose();   // in a batch, the batch owns (and has released) its input
        waiting.Reply.TrySetException(new TimeoutException(queued
            ? $"no expert-group answer within {waiting.Timeout.TotalSeconds:0.#} s (waited behind a request in flight)"
            : $"no expert-group answer within {waiting.Timeout.TotalSeconds:0.#} s (its batch is still in flight)"));
    }

    /// <summary>Sends <paramref name="batch"/> as one request, answers its members, then sends the next batch of the lane
    /// (or marks it idle). Never throws: failures go to the members.</summary>
    private async Task SendAsync(string groupId, Lane lane, List<Waiting> batch)
    {
        while (true)
        {
            await SendBatchAsync(groupId, batch).ConfigureAwait(false);
            lock (lane)
            {
                batch = TakeBatch(lane);
                if (batch.Count == 0)
                {
                    lane.InFlight--;
                    return;
                }
                if (lane.Queue.Count == 0)
                {
                    lane.Flush?.Dispose();   // nothing is waiting any more
                    lane.Flush = null;
                }
            }
            // Never send from the thread that completed the previous request: a transport may complete replies on its
            // connection's reader thread, and a blocking write from that thread into a connection whose peer is itself
            // blocked writing replies to it is a deadlock (both socket buffers full; seen with MoE-B batches).
            await Task.Yield();
        }
    }

    /// <summary>The head of the queue and every later request with its key, up to <c>maxRows</c> rows (always at
    /// least the head). The others keep their order for the next batch. Called under the lane's lock.</summary>
    private List<Waiting> TakeBatch(Lane lane)
    {
        var batch = new List<Waiting>();
        if (lane.Queue.Count == 0) return batch;
        var head = lane.Queue[0];
        long rows = 0;
        for (int i = 0; i < lane.Queue.Count; i++)
        {
            var w = lane.Queue[i];
            if (!w.Key.Equals(head.Key) || w.FailFast != head.FailFast || (batch.Count > 0 && rows + w.Rows > maxRows)) continue;
            batch.Add(w);
            rows += w.Rows;
        }
        lane.Queue.RemoveAll(batch.Contains);
        return batch;
    }

    private async Task SendBatchAsync(string groupId, List<Waiting> batch)
    {
        try
        {
            await SendMembersAsync(groupId, batch).ConfigureAwait(false);
        }
        finally
        {
            foreach (var w in batch) w.Expiry?.Dispose();
        }
    }

    private async Task SendMembersAsync(string groupId, List<Waiting> batch)
    {
        if (batch.Count == 1)
        {
            var only = batch[0];
            try
            {
                Answer(only, await inner.ApplyAsync(groupId, only.Request, only.Input, Remaining(only), only.FailFast)
                    .ConfigureAwait(false));
            }
            catch (Exception e)
            {
                only.Reply.TrySetException(e);
            }
            return;
        }

        batches.Increment();
        batchedRequests.Add(batch.Count);
        var head = batch[0];
        Tensor joined;
        try
        {
            var rows = batch.Select(w => w.Input.reshape(-1, head.Key.InFeatures)).ToList();
            try
            {
                joined = cat(rows, 0).DetachFromDisposeScope();
            }
            finally
            {
                foreach (var r in rows) r.Dispose();
            }
        }
        finally
        {
            foreach (var w in batch) w.Input.Dispose();
        }
        // The batch waits as long as its most patient member may (each member still times out at its own deadline);
        // its members are all fail-fast or all patient (TakeBatch).
        var timeout = batch.Max(Remaining);
        bool failFast = head.FailFast;
        Tensor output;
        try
        {
            output = await inner.ApplyAsync(groupId, head.Request, joined, timeout, failFast).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            foreach (var w in batch) w.Reply.TrySetException(e);
            return;
        }
        using (output)
        {
            long start = 0, outFeatures = output.size(-1);
            foreach (var w in batch)
            {
                using var part = output.narrow(0, start, w.Rows);
                start += w.Rows;
                // Held in a variable: an unreferenced temporary could be finalized while contiguous() reads it (no
                // dispose scope holds it on this continuation's thread).
                using var shaped = part.reshape([.. w.Shape[..^1], outFeatures]);
                Answer(w, shaped.contiguous().DetachFromDisposeScope());
            }
        }
    }

    /// <summary>Hands <paramref name="result"/> to its caller, or releases it when the caller has already timed out.</summary>
    private static void Answer(Waiting waiting, Tensor result)
    {
        if (!waiting.Reply.TrySetResult(result)) result.Dispose();
    }

    private static TimeSpan Remaining(Waiting w)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), w.Deadline);
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    private sealed class Lane
    {
        /// <summary>Requests of this lane in flight now (0: idle; the next request goes at once).</summary>
        public int InFlight;
        public readonly List<Waiting> Queue = [];
        /// <summary>Sends the waiting requests if they are still waiting <c>maxWait</c> after the first of them came.</summary>
        public Timer? Flush;
    }

    private sealed class Waiting(BatchKey key, Tensor input, TimeSpan timeout, bool failFast, long deadline)
    {
        public BatchKey Key { get; } = key;
        public Tensor Input { get; } = input;
        public long[] Shape { get; } = TensorShapes.Of(input);
        public long Rows { get; } = input.NumberOfElements / Math.Max(1, input.size(-1));
        public ExpertRequest Request => Key.Request;
        public TimeSpan Timeout { get; } = timeout;
        public bool FailFast { get; } = failFast;
        public long Deadline { get; } = deadline;
        public Timer? Expiry { get; set; }
        public TaskCompletionSource<Tensor> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// What a request computes, apart from its rows: requests with equal keys give, row for row, the same result alone or
    /// concatenated (<see cref="ExpertRequest.SameComputation"/>). A fused request's constants (the layer's LayerNorm and
    /// LayerScale parameters) are not compared by value: they are a function of the layer alone (one transport serves one
    /// model, whose weights never change at inference), so equal sites carry equal constants; only their shape and type
    /// are checked. Reading values would cost a device synchronisation and a device → host read per comparison (HostCopySpecs).
    /// </summary>
    private sealed record BatchKey(ExpertRequest Request, long InFeatures, ScalarType Dtype, string Device)
    {
        public BatchKey(ExpertRequest request, Tensor input) : this(request, input.size(-1), input.dtype, input.device.ToString())
        {
        }

        public bool Equals(BatchKey? other) =>
            other is not null && InFeatures == other.InFeatures && Dtype == other.Dtype && Device == other.Device && Request.SameComputation(other.Request);

        public override int GetHashCode() => HashCode.Combine(Request.Site, Request.SubRoute, InFeatures);
    }
}
