// The one error type of checkpoint loading: every message starts with the file and names the offending key or global.
namespace UniPerceiverMoe.Model.Checkpoints;

/// <summary>A checkpoint could not be read or does not fit the model. <see cref="CheckpointLoader"/> also wraps the
/// format errors of <see cref="SafeTensors"/> into this type.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message) { }

    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}
