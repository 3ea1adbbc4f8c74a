namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>
/// A message that may cross nodes. Bound in hocon/reference.conf to <see cref="UpmoeMessagePackSerializer"/>, which
/// writes only types registered in <see cref="WireTypes"/> and refuses every other manifest. Implementations are
/// sealed records annotated for MessagePack with integer keys; they carry tensors as <see cref="TensorPayload"/>,
/// never as <c>Tensor</c>.
/// </summary>
public interface IUpmoeWireMessage
{
    /// <summary>
    /// Checks invariants of data that came off the wire (non-null fields, lengths that agree, known enum values).
    /// Throws <see cref="InvalidDataException"/> naming the field; the serializer turns that into a refusal.
    /// </summary>
    void Validate();
}
