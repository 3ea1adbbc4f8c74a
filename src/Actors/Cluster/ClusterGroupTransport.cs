using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Reaches expert groups through the expert-group shard region (or its proxy). The input [.., in] is flattened to
/// rows and split into messages that fit the remote frame (upmoe.cluster.frame-headroom under maximum-frame-size);
/// rows are independent under a linear, so the reply rows concatenate back in order. An attempt that gets no answer
/// within upmoe.cluster.attempt-timeout is resent after a backoff until the caller's timeout (the deadline) has
/// passed: this covers hand-off, a crashed node's re-homing and the at-most-once delivery of sharding, since
/// requests are idempotent. A group's own error is not resent here (the dispatcher decides).
/// With upmoe.cluster.data-plane on, a group's requests go straight to the data plane of the node that answered its
/// last request (learnt from <see cref="RequestAnswered.DataEndpoint"/>); a data-plane failure forgets that endpoint and
/// the attempt is resent over Akka, so membership changes cost one fallback, never a request.
/// </summary>
public sealed class ClusterGroupTransport(IActorRef region, ClusterSettings settings, UniPerceiverConfig model, ClusterCounters counters,
    string? ownDataEndpoint = null) : IExpertGroupTransport, IDisposable
{
    private readonly DataPlaneClient? dataPlane = settings.DataPlane ? new DataPlaneClient(settings.MaximumFrameSize, DataPlaneSecurity.From(settings.Security)) : null;
    private readonly ConcurrentDictionary<string, string> dataEndpoints = new(StringComparer.Ordinal);

    public async Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        long outFeatures = request.OutFeatures(model);
        long[] outShape;
        Device device;
        TensorPayload[] chunks;
        using (input)
        {
            long inFeatures = input.size(-1);
            outShape = [.. TensorShapes.Of(input)[..^1], outFeatures];
            device = input.device;
            using var rows = input.reshape(-1, inFeatures);
            long perMessage = Math.Max(1, settings.MaxPayloadBytes / (Math.Max(inFeatures, outFeatures) * TensorPayloads.ElementSize(settings.WireDtype)));
            // A whole layer mixes the tokens of a sequence (attention): messages carry whole sequences.
            int unit = request.RowsPerUnit;
            perMessage = Math.Max(unit, perMessage / unit * unit);
            chunks = new TensorPayload[(int)((rows.size(0) + perMessage - 1) / perMessage)];
            if (chunks.Length > 1) counters.SplitParts.Increment();
            // Views of the input rows (no copy): each is read when its frame is written, and released below once every
            // attempt has ended. They share the input's storage, which lives on in them after `input` is disposed.
            for (int i = 0; i < chunks.Length; i++)
            {
                long start = i * perMessage;
                using var part = rows.narrow(0, start, Math.Min(perMessage, rows.size(0) - start));
                chunks[i] = TensorPayloads.View(part, settings.WireDtype);
            }
        }
        try
        {
            // One request built (its constants serialized once); the chunks differ only in their rows.
            var wire = ComputeRequests.From(groupId, request, chunks[0]);
            var replies = await Task.WhenAll(chunks.Select(c => SendAsync(wire.WithInput(c), groupId, request, c, outFeatures, timeout, deadline, failFast))).ConfigureAwait(false);
            var parts = new List<Tensor>(replies.Length);
            try
            {
                foreach (var reply in replies) parts.Add(TensorPayloads.ToTensor(reply, device));
                using var joined = parts.Count == 1 ? parts[0].alias() : cat(parts, 0);
                return joined.reshape(outShape);
            }
            finally
            {
                foreach (var p in parts) p.Dispose();
            }
        }
        finally
        {
            foreach (var chunk in chunks) chunk.Dispose();
        }
    }

    /// <summary>
    /// The identity hop (<see cref="ProbeHop"/>): <paramref name="input"/> [rows, in] travels to the group and back
    /// through the same path as a linear, and nothing is computed. Used by <c>upmoe bench hop</c>. The input stays the
    /// caller's; the result is a new tensor equal to it.
    /// </summary>
    public async Task<Tensor> ProbeAsync(string groupId, Tensor input, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        using var payload = TensorPayloads.View(input, settings.WireDtype);
        var reply = await SendAsync(new ProbeHop(groupId, payload), groupId, null, payload, input.size(-1), timeout, deadline, failFast: false).ConfigureAwait(false);
        return TensorPayloads.ToTensor(reply, input.device);
    }

    /// <param name="what">The request being sent, named in errors only (null: the identity probe). Formatting it per
    /// hop cost a route's weights as text on every request.</param>
    private async Task<TensorPayload> SendAsync(IUpmoeWireMessage request, string groupId, ExpertRequest? what, TensorPayload chunk, long outFeatures,
        TimeSpan timeout, long deadline, bool failFast)
    {
        long rows = chunk.Shape[0];
        counters.RowsSent.Add(rows);
        var backoff = settings.RetryBackoffMin;
        for (int attempt = 1; ; attempt++)
        {
            var left = Remaining(deadline);
            var wait = left < settings.AttemptTimeout ? left : settings.AttemptTimeout;
            counters.MessagesSent.Increment();
            counters.BytesSent.Add(TensorPayloads.Bytes(chunk));
            IUpmoeWireMessage reply;
            var attemptTimeout = wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1);
            try
            {
                if (dataPlane is not null && dataEndpoints.TryGetValue(groupId, out var endpoint))
                {
                    try
                    {
                        reply = await dataPlane.SendAsync(endpoint, groupId, request, attemptTimeout).ConfigureAwait(false);
                        counters.DataPlaneMessages.Increment();
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException)
                    {
                        // The node is gone, slow or refused the frame: forget it and resend this attempt over Akka,
                        // unless the caller has another replica to ask instead (a closed connection means the
                        // node is gone, and Akka would only reach the group once it has been re-homed).
                        dataEndpoints.TryRemove(new KeyValuePair<string, string>(groupId, endpoint));
                        counters.DataPlaneFallbacks.Increment();
                        if (failFast && e is IOException)   // counted by the dispatcher as a failover, not a failed part
                            throw new ExpertGroupUnreachableException($"expert group {groupId} at {endpoint}: {e.Message}", e);
                        continue;
                    }
                }
                else
                    reply = await region.Ask<IUpmoeWireMessage>(SelfContained(request), attemptTimeout).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                if (Remaining(deadline) <= backoff)
                {
                    counters.PartsFailed.Increment();
                    throw new TimeoutException($"expert group {groupId} did not answer {Describe(what)} within {timeout.TotalSeconds:0.#} s ({attempt} attempt(s))");
                }
                counters.Resends.Increment();
                await Task.Delay(backoff).ConfigureAwait(false);
                backoff = backoff * 2 < settings.RetryBackoffMax ? backoff * 2 : settings.RetryBackoffMax;
                continue;
            }
            switch (reply)
            {
                case RequestAnswered applied when applied.Output.Shape is [var r, var o] && r == rows && o == outFeatures:
                    counters.BytesReceived.Add(TensorPayloads.Bytes(applied.Output));
                    Remember(groupId, applied.DataEndpoint);
                    return applied.Output;
                case RequestAnswered applied:
                    counters.PartsFailed.Increment();
                    throw new ExpertGroupException($"expert group {groupId} answered {Describe(what)} with shape [{string.Join(", ", applied.Output.Shape)}], " +
                        $"expected [{rows}, {outFeatures}] (do the nodes serve the same checkpoint?)");
                case GroupFailed failed:
                    counters.PartsFailed.Increment();
                    throw new ExpertGroupException($"expert group {groupId} failed {Describe(what)}: {failed.Reason}");
                default:
                    counters.PartsFailed.Increment();
                    throw new ExpertGroupException($"expert group {groupId} answered {Describe(what)} with an unexpected {reply.GetType().Name}.");
            }
        }
    }

    /// <summary>The request with its rows in an array of their own: Akka serializes a message later, on its own thread,
    /// possibly after this attempt has timed out and the rows' view has been released.</summary>
    private static IUpmoeWireMessage SelfContained(IUpmoeWireMessage request) => request switch
    {
        IComputeRequest compute => compute.WithInput(TensorPayloads.Copy(compute.Input)),
        ProbeHop probe => probe with { Input = TensorPayloads.Copy(probe.Input) },
        _ => request,
    };

    private static string Describe(ExpertRequest? what) => what is null ? "probe" : $"{what.Site} route {what.SubRoute}";

    /// <summary>Where the group's next requests go: the data plane of the node that just answered (not this node's own:
    /// a local group is reached without serialization through the region).</summary>
    private void Remember(string groupId, string? endpoint)
    {
        if (dataPlane is null) return;
        if (string.IsNullOrEmpty(endpoint) || endpoint == ownDataEndpoint) dataEndpoints.TryRemove(groupId, out _);
        else dataEndpoints[groupId] = endpoint;
    }

    public void Dispose() => dataPlane?.Dispose();

    private static TimeSpan Remaining(long deadline) => Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);

}
