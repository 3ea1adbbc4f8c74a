using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace UniPerceiverMoe.Actors.Tests.Cluster.Security;

/// <summary>Certificates made at test time (never committed): self-signed, with their private keys, as PKCS#12.</summary>
public static class TestCertificates
{
    public static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));   // server and client auth
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12, as a node loads it (an ephemeral key cannot be used by SslStream on every platform).
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12, "test"), "test");
    }

    /// <summary>Writes <paramref name="certificate"/> with its key to a temporary .pfx file protected by <paramref name="password"/>.</summary>
    public static string WritePfx(X509Certificate2 certificate, string password)
    {
        var path = Path.Combine(Path.GetTempPath(), $"upmoe-test-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }
}
