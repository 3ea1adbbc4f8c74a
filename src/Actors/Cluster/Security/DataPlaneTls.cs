using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace UniPerceiverMoe.Actors.Cluster.Security;

/// <summary>
/// TLS with mutual authentication for a data-plane connection, from the certificate Akka.Remote uses
/// (akka.remote.dot-netty.tcp.ssl.certificate). Both sides present a certificate; a peer's is accepted when it
/// chains to a root this machine trusts, or when its thumbprint is pinned: this node's own certificate (a cluster
/// that shares one certificate needs no CA) or one in upmoe.cluster.tls.trusted-thumbprints. Host names are not
/// checked (nodes are dialled by IP, as with validate-certificate-hostname = false). A refused peer surfaces as
/// <see cref="DataPlaneAuthenticationException"/>; the caller closes the connection.
/// </summary>
public sealed class DataPlaneTls(X509Certificate2 certificate, IReadOnlyCollection<string> trustedThumbprints)
{
    private readonly HashSet<string> pinned = new([.. trustedThumbprints, certificate.Thumbprint], StringComparer.OrdinalIgnoreCase);

    public static DataPlaneTls FromSettings(ClusterSecuritySettings settings) =>
        new(settings.LoadCertificate(), settings.TrustedThumbprints ?? []);

    /// <summary>Why <paramref name="peer"/> is refused, or null when it is accepted.</summary>
    public string? Refusal(X509Certificate? peer, SslPolicyErrors errors)
    {
        if (peer is null) return "the peer presented no certificate";
        if (pinned.Contains(peer.GetCertHashString())) return null;
        var rest = errors & ~SslPolicyErrors.RemoteCertificateNameMismatch;
        return rest == SslPolicyErrors.None ? null : $"the peer's certificate ({peer.Subject}) is neither pinned nor chain-valid ({rest})";
    }

    public Task<SslStream> AuthenticateAsClientAsync(Stream stream, string targetHost, CancellationToken cancel) =>
        Authenticate(stream, cancel, (ssl, refusal) => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ClientCertificates = [certificate],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, peer, _, errors) => (refusal.Value = Refusal(peer, errors)) is null,
        }, cancel));

    public Task<SslStream> AuthenticateAsServerAsync(Stream stream, CancellationToken cancel) =>
        Authenticate(stream, cancel, (ssl, refusal) => ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, peer, _, errors) => (refusal.Value = Refusal(peer, errors)) is null,
        }, cancel));

    /// <summary>The authenticated stream (owns <paramref name="stream"/>); on refusal it is disposed and the reason thrown.</summary>
    private static async Task<SslStream> Authenticate(Stream stream, CancellationToken cancel, Func<SslStream, StrongBox, Task> handshake)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var refusal = new StrongBox();
        try
        {
            await handshake(ssl, refusal).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new DataPlaneAuthenticationException($"data-plane TLS refused: {refusal.Value ?? e.Message}.", e);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private sealed class StrongBox
    {
        public string? Value;
    }
}
