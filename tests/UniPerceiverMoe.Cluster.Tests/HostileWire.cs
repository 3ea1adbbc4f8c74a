using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Serialization;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Arbitrary bytes and manifest, sent as if written by the upmoe serializer (same serializer id on the wire).</summary>
public sealed record RawWire(string Manifest, byte[] Bytes);

/// <summary>Writes <see cref="RawWire"/> verbatim under the upmoe serializer's identifier: an impostor for hostile-input tests.</summary>
public sealed class RawWireSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public override int Identifier => 4170;

    public override string Manifest(object o) => ((RawWire)o).Manifest;

    public override byte[] ToBinary(object obj) => ((RawWire)obj).Bytes;

    public override object FromBinary(byte[] bytes, string manifest) => throw new NotSupportedException("the impostor only writes.");
}

/// <summary>A remote-only actor system (not a cluster member) that sends <see cref="RawWire"/> messages.</summary>
public static class HostileWire
{
    public static ActorSystem Start() => ActorSystem.Create("intruder", ConfigurationFactory.ParseString($$"""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.loglevel = ERROR
        akka.actor.serializers.raw = "{{typeof(RawWireSerializer).AssemblyQualifiedName}}"
        akka.actor.serialization-bindings { "{{typeof(RawWire).AssemblyQualifiedName}}" = raw }
        """));

    /// <summary>Warnings and errors published on <paramref name="system"/>'s event stream from now on.</summary>
    public static ConcurrentQueue<LogEvent> CollectLogs(ActorSystem system)
    {
        var events = new ConcurrentQueue<LogEvent>();
        var collector = system.ActorOf(Props.Create(() => new LogCollector(events)));
        system.EventStream.Subscribe(collector, typeof(Warning));
        system.EventStream.Subscribe(collector, typeof(Error));
        return events;
    }
}

/// <summary>Collects the log events of an actor system (warnings and errors) for assertions.</summary>
public sealed class LogCollector : ReceiveActor
{
    public LogCollector(ConcurrentQueue<LogEvent> events) => Receive<LogEvent>(events.Enqueue);
}
