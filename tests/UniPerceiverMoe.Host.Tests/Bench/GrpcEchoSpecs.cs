using UniPerceiverMoe.Host.Bench;

namespace UniPerceiverMoe.Host.Tests.Bench;

/// <summary>
/// The gRPC baseline of <c>upmoe bench hop</c> echoes exactly what it is sent, one message after another on one
/// duplex call, for every payload size the benchmark uses (a baseline that dropped or truncated bytes would measure
/// less work than the hop it is compared with).
/// </summary>
public sealed class GrpcEchoSpecs
{
    [Fact]
    public async Task The_echo_should_return_each_message_byte_for_byte_on_one_call()
    {
        await using var server = GrpcEcho.Build(port: 0);
        await server.StartAsync();
        var client = new GrpcEcho.Client(GrpcEcho.Port(server));
        var random = new Random(7);
        foreach (int size in new[] { 1, 13 + 256, 13 + 50_432, 13 + 605_184, 13 + 2_411_520 })
        {
            var message = new byte[size];
            random.NextBytes(message);
            var echoed = await client.EchoAsync(message);
            Assert.Equal(message.Length, echoed.Length);
            Assert.True(message.AsSpan().SequenceEqual(echoed), $"the {size}-byte echo differs from what was sent");
        }
        client.Dispose();            // ends the call first: the server's stop waits for calls in flight
        await server.StopAsync();
    }
}
