using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace UniPerceiverMoe.Actors;

/// <summary>Akka logger that writes to stderr (Akka's default writes to stdout, which carries command output).</summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Console.Error.WriteLine($"[{e.LogLevel().ToString().Replace("Level", "").ToUpperInvariant()}] {e.LogSource}: {e.Message}{(e.Cause is null ? "" : " (" + e.Cause.Message + ")")}"));
    }
}
