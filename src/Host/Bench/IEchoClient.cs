namespace UniPerceiverMoe.Host.Bench;

/// <summary>One end of an echo baseline of <c>upmoe bench hop</c>: sends a frame, waits for its echo, returns the echo's length.</summary>
public interface IEchoClient : IDisposable
{
    int Echo(byte[] frame);
}
