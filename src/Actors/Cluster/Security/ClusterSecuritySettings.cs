using UniPerceiverMoe.Actors.Settings;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Cluster.Security;

/// <summary>
/// Typed view of how a node proves it belongs to the cluster (meanings in hocon/reference.conf): the remote
/// transport's TLS (akka.remote.dot-netty.tcp.enable-ssl and its ssl.certificate section, which the data plane uses
/// too), the data plane's shared secret (upmoe.cluster.secret or $UPMOE_CLUSTER_SECRET) and upmoe.cluster.insecure.
/// </summary>
/// <param name="Secret">UTF-8 bytes of the shared secret; null = none configured.</param>
/// <param name="CertificatePath">PKCS#12 file with the node's certificate and private key (TLS on only).</param>
/// <param name="TrustedThumbprints">Peer certificates accepted besides this node's own and chain-valid ones (upper case hex).</param>
public sealed record ClusterSecuritySettings(
    bool Tls,
    byte[]? Secret,
    bool Insecure,
    string Hostname,
    string? CertificatePath = null,
    string? CertificatePassword = null,
    IReadOnlyList<string>? TrustedThumbprints = null)
{
    public const string SecretEnvironmentVariable = "UPMOE_CLUSTER_SECRET";

    /// <summary>Reads the settings; <paramref name="environment"/> replaces <see cref="Environment.GetEnvironmentVariable(string)"/> in tests.</summary>
    public static ClusterSecuritySettings FromConfig(Config config, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var secretText = config.ReadString("upmoe.cluster.secret") is { Length: > 0 } configured ? configured : environment(SecretEnvironmentVariable) ?? "";
        byte[]? secret = secretText.Length == 0 ? null : Encoding.UTF8.GetBytes(secretText);
        if (secret is not null && secret.Length < DataPlaneAuthentication.MinimumSecretBytes)
            throw new ConfigurationException(
                $"upmoe.cluster.secret (or ${SecretEnvironmentVariable}) has {secret.Length} bytes; at least {DataPlaneAuthentication.MinimumSecretBytes} are required " +
                "(e.g. the output of `openssl rand -base64 32`).");
        bool tls = config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl", false);
        string? path = config.GetString("akka.remote.dot-netty.tcp.ssl.certificate.path", "") is { Length: > 0 } p ? p : null;
        if (tls && path is null)
            throw new ConfigurationException(
                "akka.remote.dot-netty.tcp.enable-ssl is on but akka.remote.dot-netty.tcp.ssl.certificate.path is empty: give each node the cluster's PKCS#12 certificate.");
        var thumbprints = (config.GetStringList("upmoe.cluster.tls.trusted-thumbprints") ?? [])
            .Select(t => t.Replace(":", "", StringComparison.Ordinal).Trim().ToUpperInvariant()).Where(t => t.Length > 0).ToList();
        string hostname = config.GetString("akka.remote.dot-netty.tcp.hostname", "") is { Length: > 0 } h ? h : "127.0.0.1";
        return new ClusterSecuritySettings(tls, secret, config.ReadBoolean("upmoe.cluster.insecure"), hostname,
            path, config.GetString("akka.remote.dot-netty.tcp.ssl.certificate.password", null), thumbprints);
    }

    /// <summary>True for 127.0.0.0/8, ::1 and "localhost": only processes on this machine can reach the node.</summary>
    public static bool IsLoopback(string hostname) =>
        hostname.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(hostname, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>
    /// Refuses a node that others could reach and nobody could authenticate: a non-loopback bind with neither TLS nor a
    /// secret, unless upmoe.cluster.insecure says so. The message names every setting that fixes it.
    /// </summary>
    public ClusterSecuritySettings EnsureStartable()
    {
        if (IsLoopback(Hostname) || Tls || Secret is not null || Insecure) return this;
        throw new ConfigurationException(
            $"refusing to start: akka.remote.dot-netty.tcp.hostname = {Hostname} is not a loopback address, and neither TLS " +
            "(akka.remote.dot-netty.tcp.enable-ssl = on with ssl.certificate.path) nor a shared secret (upmoe.cluster.secret or " +
            $"${SecretEnvironmentVariable}) is configured, so anyone who can reach this port could join the cluster and use its data plane. " +
            "Configure one of them (see docs/cluster.md#security), or set upmoe.cluster.insecure = on on a network you trust.");
    }

    /// <summary>A warning for a reachable node whose remote transport is not authenticated (the secret covers only the data plane); null = none.</summary>
    public string? Warning =>
        IsLoopback(Hostname) || Tls ? null
        : Insecure && Secret is null ? $"upmoe.cluster.insecure = on: node on {Hostname} accepts any peer (no TLS, no secret)."
        : $"node on {Hostname} without TLS: the data plane needs the cluster secret, but Akka.Remote (membership, sharding) accepts any peer that reaches it; enable TLS across untrusted networks.";

    /// <summary>This node's certificate with its private key (TLS on only).</summary>
    public X509Certificate2 LoadCertificate()
    {
        if (CertificatePath is null) throw new ConfigurationException("akka.remote.dot-netty.tcp.ssl.certificate.path is not set.");
        if (!File.Exists(CertificatePath))
            throw new ConfigurationException($"{CertificatePath}: the certificate (akka.remote.dot-netty.tcp.ssl.certificate.path) does not exist.");
        X509Certificate2 certificate;
        try { certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, CertificatePassword); }
        catch (Exception e) { throw new ConfigurationException($"{CertificatePath}: not a PKCS#12 certificate this password opens ({e.Message}).", e); }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new ConfigurationException($"{CertificatePath}: the certificate has no private key.");
        }
        return certificate;
    }
}
