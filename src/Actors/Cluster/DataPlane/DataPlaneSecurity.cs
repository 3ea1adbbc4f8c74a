using UniPerceiverMoe.Actors.Cluster.Security;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// How both ends of a data-plane connection prove they belong to the cluster before any frame is read: mutually
/// authenticated TLS with the remoting certificate (when akka.remote.dot-netty.tcp.enable-ssl is on), else the shared
/// secret's challenge–response (upmoe.cluster.secret), else nothing (loopback, or upmoe.cluster.insecure). The
/// returned stream carries the frames (the TLS stream, or the socket's own). A refusal throws; the server then closes
/// the connection without a word and counts it.
/// </summary>
public abstract class DataPlaneSecurity
{
    /// <summary>No authentication: only for loopback or networks where every peer is trusted.</summary>
    public static readonly DataPlaneSecurity None = new Open();

    /// <summary>TLS when the cluster has it, else the secret when there is one, else none.</summary>
    public static DataPlaneSecurity From(ClusterSecuritySettings? settings) => settings switch
    {
        { Tls: true } => new Tls(DataPlaneTls.FromSettings(settings)),
        { Secret: { } secret } => new SharedSecret(secret),
        _ => None,
    };

    /// <summary>What logs and refusals call it.</summary>
    public abstract string Name { get; }

    public abstract Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation);

    public abstract Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation);

    private sealed class Open : DataPlaneSecurity
    {
        public override string Name => "none";

        public override Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation) => Task.FromResult(stream);

        public override Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation) => Task.FromResult(stream);
    }

    /// <summary>HMAC-SHA256 challenge–response over the connection's first bytes; frames then flow in the clear.</summary>
    private sealed class SharedSecret(byte[] secret) : DataPlaneSecurity
    {
        public override string Name => "shared secret";

        public override async Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation)
        {
            await DataPlaneAuthentication.AuthenticateAsClientAsync(stream, secret, cancellation).ConfigureAwait(false);
            return stream;
        }

        public override async Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation)
        {
            await DataPlaneAuthentication.AuthenticateAsServerAsync(stream, secret, cancellation).ConfigureAwait(false);
            return stream;
        }
    }

    private sealed class Tls(DataPlaneTls tls) : DataPlaneSecurity
    {
        public override string Name => "TLS";

        public override async Task<Stream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellation) =>
            await tls.AuthenticateAsClientAsync(stream, host, cancellation).ConfigureAwait(false);

        public override async Task<Stream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancellation) =>
            await tls.AuthenticateAsServerAsync(stream, cancellation).ConfigureAwait(false);
    }
}
