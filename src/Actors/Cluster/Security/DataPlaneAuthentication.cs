using System.Security.Cryptography;
using System.Text;

namespace UniPerceiverMoe.Actors.Cluster.Security;

/// <summary>
/// Mutual challenge–response over a fresh stream with a shared secret (upmoe.cluster.secret): each side proves it
/// holds the secret without sending it, and neither side sends a byte of its protocol before both are proven.
/// <code>
/// client → server   hello:  magic "UPMA", version, client nonce (32 bytes)
/// server → client   proof:  magic, version, server nonce (32), HMAC-SHA256(secret, "upmoe-dp server" ‖ Nc ‖ Ns)
/// client → server   proof:  HMAC-SHA256(secret, "upmoe-dp client" ‖ Nc ‖ Ns)
/// server → client   accept: one byte 0x01 (a refusal is a closed connection and nothing else)
/// </code>
/// Invariants: every message has a fixed size, so a peer can make the reader take at most <see cref="ClientHelloSize"/>
/// bytes before it is refused; nonces come from <see cref="RandomNumberGenerator"/>, so a recorded proof never verifies
/// again; the two labels differ, so a proof cannot be reflected back to the side that made it; MACs are compared
/// with <see cref="CryptographicOperations.FixedTimeEquals"/>. The caller bounds the whole exchange with the
/// cancellation token (upmoe.cluster.limits.handshake-timeout) and closes the stream on any exception.
/// </summary>
public static class DataPlaneAuthentication
{
    public const int NonceSize = 32;
    public const int MacSize = 32;
    private const byte Version = 1;
    private const byte Accepted = 1;
    private static readonly byte[] Magic = "UPMA"u8.ToArray();
    private static readonly byte[] ServerLabel = Encoding.ASCII.GetBytes("upmoe-dp server");
    private static readonly byte[] ClientLabel = Encoding.ASCII.GetBytes("upmoe-dp client");

    public static int ClientHelloSize => Magic.Length + 1 + NonceSize;
    public static int ServerProofSize => Magic.Length + 1 + NonceSize + MacSize;

    /// <summary>Smallest accepted secret, in UTF-8 bytes (a short secret can be guessed offline from one handshake).</summary>
    public const int MinimumSecretBytes = 16;

    /// <summary>Proves this side to the server and checks the server's proof. Throws
    /// <see cref="DataPlaneAuthenticationException"/> when the server does not hold the secret or refuses us.</summary>
    public static async Task AuthenticateAsClientAsync(Stream stream, byte[] secret, CancellationToken cancel)
    {
        CheckSecret(secret);
        var clientNonce = RandomNumberGenerator.GetBytes(NonceSize);
        await stream.WriteAsync(Concat(Magic, [Version], clientNonce), cancel).ConfigureAwait(false);
        await stream.FlushAsync(cancel).ConfigureAwait(false);

        var proof = await ReadExactlyAsync(stream, ServerProofSize, "the server's proof", cancel).ConfigureAwait(false);
        CheckHeader(proof, "server");
        var serverNonce = proof.AsSpan(Magic.Length + 1, NonceSize).ToArray();
        var expected = Mac(secret, ServerLabel, clientNonce, serverNonce);
        if (!CryptographicOperations.FixedTimeEquals(expected, proof.AsSpan(Magic.Length + 1 + NonceSize, MacSize)))
            throw new DataPlaneAuthenticationException("the data-plane server does not hold this cluster's secret (its proof does not verify).");

        await stream.WriteAsync(Mac(secret, ClientLabel, clientNonce, serverNonce), cancel).ConfigureAwait(false);
        await stream.FlushAsync(cancel).ConfigureAwait(false);
        var accept = await ReadExactlyAsync(stream, 1, "the server's acceptance", cancel).ConfigureAwait(false);
        if (accept[0] != Accepted)
            throw new DataPlaneAuthenticationException($"the data-plane server answered 0x{accept[0]:x2} instead of accepting.");
    }

    /// <summary>Checks the client's proof and proves this side. Throws <see cref="DataPlaneAuthenticationException"/>
    /// when the client does not hold the secret or speaks another protocol; the caller then closes the connection
    /// without a word.</summary>
    public static async Task AuthenticateAsServerAsync(Stream stream, byte[] secret, CancellationToken cancel)
    {
        CheckSecret(secret);
        var hello = await ReadExactlyAsync(stream, ClientHelloSize, "the client's hello", cancel).ConfigureAwait(false);
        CheckHeader(hello, "client");
        var clientNonce = hello.AsSpan(Magic.Length + 1, NonceSize).ToArray();
        var serverNonce = RandomNumberGenerator.GetBytes(NonceSize);
        await stream.WriteAsync(Concat(Magic, [Version], serverNonce, Mac(secret, ServerLabel, clientNonce, serverNonce)), cancel).ConfigureAwait(false);
        await stream.FlushAsync(cancel).ConfigureAwait(false);

        var proof = await ReadExactlyAsync(stream, MacSize, "the client's proof", cancel).ConfigureAwait(false);
        if (!CryptographicOperations.FixedTimeEquals(Mac(secret, ClientLabel, clientNonce, serverNonce), proof))
            throw new DataPlaneAuthenticationException("the data-plane client does not hold this cluster's secret (its proof does not verify).");
        await stream.WriteAsync(new[] { Accepted }, cancel).ConfigureAwait(false);
        await stream.FlushAsync(cancel).ConfigureAwait(false);
    }

    private static void CheckSecret(byte[] secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (secret.Length < MinimumSecretBytes)
            throw new ArgumentException($"the cluster secret has {secret.Length} bytes; at least {MinimumSecretBytes} are required.", nameof(secret));
    }

    private static void CheckHeader(byte[] message, string from)
    {
        if (!message.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new DataPlaneAuthenticationException($"the data-plane {from} does not speak the upmoe handshake (bad magic).");
        if (message[Magic.Length] != Version)
            throw new DataPlaneAuthenticationException($"the data-plane {from} speaks handshake version {message[Magic.Length]}, this node {Version}.");
    }

    private static byte[] Mac(byte[] secret, byte[] label, byte[] clientNonce, byte[] serverNonce) =>
        HMACSHA256.HashData(secret, Concat(label, clientNonce, serverNonce));

    private static byte[] Concat(params byte[][] parts)
    {
        var all = new byte[parts.Sum(p => p.Length)];
        int at = 0;
        foreach (var p in parts)
        {
            p.CopyTo(all, at);
            at += p.Length;
        }
        return all;
    }

    /// <summary>Exactly <paramref name="count"/> bytes (fixed and small: the handshake never allocates what a peer claims).</summary>
    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count, string what, CancellationToken cancel)
    {
        var buffer = new byte[count];
        try
        {
            await stream.ReadExactlyAsync(buffer, cancel).ConfigureAwait(false);
        }
        catch (EndOfStreamException e)
        {
            throw new DataPlaneAuthenticationException($"the connection closed before {what} ({count} bytes) arrived: refused or not an upmoe peer.", e);
        }
        return buffer;
    }
}

/// <summary>A data-plane peer failed the handshake: it lacks the cluster's secret or certificate, or speaks another protocol.</summary>
public sealed class DataPlaneAuthenticationException(string message, Exception? inner = null) : Exception(message, inner);
