using System.Collections.Concurrent;
using System.Net.Sockets;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// A frontend's multiplexed connection to one expert node's data plane: any number of requests in flight, each
/// frame tagged with an id that its reply carries back. Callers write their own frames (under a lock, on their own
/// thread: no hand-off to a writer); one dedicated thread reads replies and completes the callers' tasks
/// synchronously (one wake-up per reply). Once anything goes wrong (the peer closes, a malformed frame, a caller's
/// timeout) the connection is closed and every request still pending on it fails with <see cref="IOException"/>,
/// so the transport resends each one elsewhere; a closed connection is never reused.
/// </summary>
internal sealed class DataPlaneConnection : IDisposable
{
    private readonly Socket socket;
    private readonly Stream stream;
    private readonly long maxBodyBytes;
    private readonly ConcurrentDictionary<uint, Pending> pending = new();
    private readonly Lock writeGate = new();
    private readonly DataPlaneFrameWriter writer;
    private uint nextId;
    private volatile Exception? closed;

    public DataPlaneConnection(string endpoint, Socket socket, Stream stream, long maxBodyBytes)
    {
        Endpoint = endpoint;
        this.socket = socket;
        this.stream = stream;
        this.maxBodyBytes = maxBodyBytes;
        writer = new DataPlaneFrameWriter(stream);
        new Thread(ReadLoop) { IsBackground = true, Name = $"upmoe-data-plane-client {endpoint}" }.Start();
    }

    public string Endpoint { get; }

    public bool IsClosed => closed is not null;

    /// <summary>
    /// Sends <paramref name="request"/>; the task completes with its reply (on the reader thread), or fails with
    /// <see cref="TimeoutException"/> once <paramref name="deadline"/> has passed without one (see
    /// <see cref="ExpireOverdue"/>). Deadlines are <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> values, as
    /// everywhere on the dispatch path (<see cref="Environment.TickCount64"/> is coarse on Linux: a 300 ms timeout
    /// fired after 298.9 ms).
    /// </summary>
    public Task<IUpmoeWireMessage> Send(IUpmoeWireMessage request, long deadline)
    {
        var reply = new Pending(deadline);
        lock (writeGate)
        {
            if (closed is { } reason) throw new IOException($"data plane {Endpoint}: connection closed ({reason.Message}).", reason);
            uint id = ++nextId;
            pending[id] = reply;
            try
            {
                writer.Write(id, request);
            }
            catch (Exception e)
            {
                pending.TryRemove(id, out _);
                Close(e);
                throw new IOException($"data plane {Endpoint}: {e.Message}", e);
            }
        }
        return reply.Task;
    }

    private void ReadLoop()
    {
        using var reader = new DataPlaneFrameReader(stream, maxBodyBytes);
        try
        {
            while (closed is null)
            {
                var message = reader.Read(out uint id);
                if (message is null)
                {
                    Close(new EndOfStreamException("the node closed the connection"));
                    return;
                }
                // No pending entry: the caller gave up (timeout) and this connection is closing anyway.
                if (pending.TryRemove(id, out var reply)) reply.TrySetResult(message);
                else if (message is ExpertShardProtocol.RequestAnswered dropped) dropped.Output?.Dispose();
            }
        }
        catch (Exception e)
        {
            Close(e);
        }
    }

    /// <summary>
    /// Fails the requests whose deadline has passed with <see cref="TimeoutException"/> and closes the connection: a
    /// node that lets one request wait that long is hung or overloaded, and its other requests here would wait as
    /// long (they fail with <see cref="IOException"/> and are resent elsewhere).
    /// </summary>
    public void ExpireOverdue(long now)
    {
        bool expired = false;
        foreach (var (id, request) in pending)
            if (request.Deadline <= now && pending.TryRemove(id, out _))
            {
                request.TrySetException(new TimeoutException($"data plane {Endpoint}: no reply within its deadline."));
                expired = true;
            }
        if (expired) Close(new TimeoutException("a request on this connection timed out"));
    }

    /// <summary>Closes the connection and fails every pending request with <paramref name="reason"/>.</summary>
    public void Close(Exception reason)
    {
        if (Interlocked.CompareExchange(ref closed, reason, null) is not null) return;
        try { socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        stream.Dispose();
        socket.Dispose();
        foreach (var id in pending.Keys)
            if (pending.TryRemove(id, out var reply))
                reply.TrySetException(new IOException($"data plane {Endpoint}: {reason.Message}", reason));
    }

    public void Dispose() => Close(new ObjectDisposedException(nameof(DataPlaneConnection)));

    /// <summary>A request waiting for its reply. Continuations run on the thread that completes it (the reader): the
    /// waiting caller is woken once, with its result already converted. Invariant for callers: a continuation must not
    /// send on this connection (the reader would block in a write while the node blocks writing replies to it); code
    /// that sends the next request when a reply comes first leaves the reader's thread (HopBatchingTransport).</summary>
    private sealed class Pending(long deadline) : TaskCompletionSource<IUpmoeWireMessage>
    {
        public long Deadline { get; } = deadline;
    }
}
