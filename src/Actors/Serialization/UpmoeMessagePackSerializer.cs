using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using MessagePack;
using MessagePack.Resolvers;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>
/// Akka serializer for <see cref="IUpmoeWireMessage"/> (identifier and binding in hocon/reference.conf). Reads with
/// <see cref="MessagePackSecurity.UntrustedData"/> through the standard resolver only (no typeless or union
/// resolution: a type name from the wire is never loaded), accepts only the manifests of <see cref="WireTypes"/>,
/// and validates every message it reads. Anything else throws <see cref="SerializationException"/>: Akka.Remote logs
/// it and drops that one message, and the node keeps serving.
/// </summary>
public sealed class UpmoeMessagePackSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);

    public override string Manifest(object o) =>
        WireTypes.TryGetManifest(o.GetType(), out var manifest)
            ? manifest
            : throw new SerializationException($"{o.GetType().FullName} is not a registered upmoe wire message.");

    public override byte[] ToBinary(object obj) => Serialize(obj);

    public override object FromBinary(byte[] bytes, string manifest) => Deserialize(bytes, manifest);

    /// <summary>The bytes of a registered wire message (also used by tests and byte accounting).</summary>
    public static byte[] Serialize(object message)
    {
        if (message is not IUpmoeWireMessage || !WireTypes.TryGetManifest(message.GetType(), out _))
            throw new SerializationException($"{message.GetType().FullName} is not a registered upmoe wire message.");
        return MessagePackSerializer.Serialize(message.GetType(), message, Options);
    }

    /// <summary>Writes a registered wire message into <paramref name="writer"/> (no intermediate array).</summary>
    public static void Serialize(System.Buffers.IBufferWriter<byte> writer, IUpmoeWireMessage message)
    {
        if (!WireTypes.TryGetManifest(message.GetType(), out _))
            throw new SerializationException($"{message.GetType().FullName} is not a registered upmoe wire message.");
        MessagePackSerializer.Serialize(message.GetType(), writer, message, Options);
    }

    /// <summary>Reads a message of the type named by <paramref name="manifest"/>; refuses anything else.</summary>
    public static IUpmoeWireMessage Deserialize(byte[] bytes, string manifest) => Deserialize(bytes.AsMemory(), manifest);

    /// <summary>Reads a message of the type named by <paramref name="manifest"/> from a slice (e.g. a pooled buffer,
    /// which may be reused once this returns: the message holds no reference into it); refuses anything else.</summary>
    public static IUpmoeWireMessage Deserialize(ReadOnlyMemory<byte> bytes, string manifest) =>
        Deserialize(new System.Buffers.ReadOnlySequence<byte>(bytes), manifest);

    /// <summary>The same from a body spread over several buffers (a large data-plane frame read in chunks).</summary>
    public static IUpmoeWireMessage Deserialize(in System.Buffers.ReadOnlySequence<byte> bytes, string manifest)
    {
        if (!WireTypes.TryGetType(manifest, out var type))
            throw new SerializationException($"upmoe wire: unknown manifest '{Printable(manifest)}' ({bytes.Length} bytes refused).");
        try
        {
            var message = MessagePackSerializer.Deserialize(type, bytes, Options) as IUpmoeWireMessage
                ?? throw new InvalidDataException("empty message");
            message.Validate();
            return message;
        }
        catch (Exception e) when (e is MessagePackSerializationException or InvalidDataException or OverflowException or EndOfStreamException)
        {
            throw new SerializationException($"upmoe wire: malformed '{manifest}' message ({bytes.Length} bytes refused): {e.Message}", e);
        }
    }

    private static string Printable(string s) =>
        new string(s.Take(64).Select(c => char.IsControl(c) ? '?' : c).ToArray()) + (s.Length > 64 ? "…" : "");
}
