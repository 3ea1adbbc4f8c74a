namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// How both ends of a data-plane connection prove they belong to the cluster before any frame is read: nothing
/// (loopback and trusted networks), a shared-secret challenge–response, or mutually authenticated TLS. The returned
/// stream carries the frames (the TLS stream, or the socket's own).
/// </summary>
public abstract class DataPlaneSecurity
{
    /// <summary>No authentication: only for loopback or networks where every peer is trusted.</summary>
    public static readonly DataPlaneSecurity None = new Open();

    /// <summary>What the node's /metrics and logs call it.</summary>
    public abstract string Name { get; }

    public abstract Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation);

    public abstract Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation);

    private sealed class Open : DataPlaneSecurity
    {
        public override string Name => "none";

        public override Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation) => Task.FromResult(stream);

        public override Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation) => Task.FromResult(stream);
    }
}
