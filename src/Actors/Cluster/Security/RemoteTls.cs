using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace UniPerceiverMoe.Actors.Cluster.Security;

/// <summary>
/// Akka.Remote's TLS with the cluster's acceptance rule. With akka.remote.dot-netty.tcp.enable-ssl on, the actor
/// system gets a <see cref="DotNettySslSetup"/> with the certificate of ssl.certificate (path, password), mutual
/// authentication as ssl.require-mutual-authentication says, and the same peer check as the data plane
/// (<see cref="DataPlaneTls.Refusal"/>): a certificate that chains to a trusted root, this node's own certificate (a
/// cluster that shares one certificate needs no CA), or one in upmoe.cluster.tls.trusted-thumbprints. A node without
/// such a certificate cannot associate, so it cannot join. ssl.suppress-validation = on keeps Akka's behaviour
/// (accept any certificate; for labs only).
/// </summary>
public static class RemoteTls
{
    /// <summary>Peer certificates this process refused on Akka.Remote connections (either direction).</summary>
    public static Counter Refusals { get; } = new();

    /// <summary>An actor system for <paramref name="config"/>, with the TLS setup when TLS is on.</summary>
    public static ActorSystem CreateActorSystem(string name, Config config)
    {
        var bootstrap = BootstrapSetup.Create().WithConfig(config);
        return Setup(config) is { } ssl ? ActorSystem.Create(name, ActorSystemSetup.Create(bootstrap, ssl)) : ActorSystem.Create(name, bootstrap);
    }

    /// <summary>The TLS setup of <paramref name="config"/>; null when TLS is off.</summary>
    public static DotNettySslSetup? Setup(Config config)
    {
        var security = ClusterSecuritySettings.FromConfig(config);
        if (!security.Tls) return null;
        var certificate = security.LoadCertificate();
        bool suppress = config.GetBoolean("akka.remote.dot-netty.tcp.ssl.suppress-validation", false);
        bool mutual = config.GetBoolean("akka.remote.dot-netty.tcp.ssl.require-mutual-authentication", true);
        bool hostname = config.GetBoolean("akka.remote.dot-netty.tcp.ssl.validate-certificate-hostname", false);
        if (suppress) return new DotNettySslSetup(certificate, true, mutual, hostname);
        var rule = new DataPlaneTls(certificate, security.TrustedThumbprints ?? []);
        return new DotNettySslSetup(certificate, false, mutual, hostname, (peer, _, remote, errors, log) =>
        {
            var refusal = hostname && errors.HasFlag(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch)
                ? "the certificate does not name the host dialled (validate-certificate-hostname = on)"
                : rule.Refusal(peer, errors);
            if (refusal is null) return true;
            Refusals.Increment();
            log.Warning("TLS: refused {0}: {1}", remote, refusal);
            return false;
        });
    }
}
