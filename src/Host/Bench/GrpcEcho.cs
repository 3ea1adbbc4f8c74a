using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// The gRPC candidate for the expert hop's transport, measured as <c>upmoe bench hop</c> measures the raw echo: one
/// long-lived bidirectional stream over HTTP/2 cleartext (Kestrel + Grpc.AspNetCore on the server, Grpc.Net.Client on
/// the client) between two processes, each message the same bytes as the raw echo's frame, echoed back as they came.
/// Bytes pass through untouched (a pass-through marshaller, no protobuf): what is measured is gRPC's framing, HTTP/2
/// and Kestrel's pipes, the floor any gRPC data plane would stand on.
/// </summary>
public static class GrpcEcho
{
    /// <summary>The line the server prints once it listens: <c>grpc-echo-up PORT</c>.</summary>
    public const string UpLinePrefix = "grpc-echo-up ";

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(bytes => bytes, bytes => bytes);

    /// <summary>The one method: a duplex stream echoing each message.</summary>
    public static readonly Method<byte[], byte[]> EchoMethod = new(MethodType.DuplexStreaming, "upmoe.bench.Echo", "Echo", Bytes, Bytes);

    /// <summary>Serves on 127.0.0.1 until stdin closes (the parent process ended).</summary>
    public static void Serve(TextWriter output)
    {
        var app = Build(port: 0);
        app.StartAsync().GetAwaiter().GetResult();
        output.WriteLine($"{UpLinePrefix}{Port(app)}");
        output.Flush();
        try { Console.In.ReadToEnd(); } catch (IOException) { }
        app.StopAsync().GetAwaiter().GetResult();
    }

    /// <summary>An echo server on 127.0.0.1:<paramref name="port"/> (0: any free port), not started.</summary>
    public static WebApplication Build(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = grpc.MaxSendMessageSize = 64 << 20);
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        return app;
    }

    /// <summary>The port a started <see cref="Build"/> server listens on.</summary>
    public static int Port(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

    /// <summary>The client side: one duplex call, one message in flight at a time.</summary>
    public sealed class Client : IEchoClient
    {
        private readonly GrpcChannel channel;
        private readonly AsyncDuplexStreamingCall<byte[], byte[]> call;

        public Client(int port)
        {
            channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
            {
                MaxReceiveMessageSize = 64 << 20,
                MaxSendMessageSize = 64 << 20,
            });
            call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(EchoMethod, null, new CallOptions());
        }

        /// <summary>Sends <paramref name="message"/> and waits for its echo (blocking, as a sequence executor waits); its length.</summary>
        public int Echo(byte[] message) => EchoAsync(message).GetAwaiter().GetResult().Length;

        public async Task<byte[]> EchoAsync(byte[] message)
        {
            await call.RequestStream.WriteAsync(message).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
                throw new IOException("grpc echo: the server ended the stream.");
            return call.ResponseStream.Current;
        }

        public void Dispose()
        {
            try { call.RequestStream.CompleteAsync().Wait(TimeSpan.FromSeconds(2)); } catch (Exception e) when (e is RpcException or AggregateException or InvalidOperationException) { }
            call.Dispose();
            channel.Dispose();
        }
    }
}

/// <summary>The echo service (bound without generated code: <see cref="BindService"/> adds the one method). Not sealed
/// and <see cref="Echo"/> virtual: Grpc.AspNetCore finds a handler the way it finds a generated base's override.</summary>
[BindServiceMethod(typeof(EchoService), nameof(BindService))]
public class EchoService
{
    public static void BindService(ServiceBinderBase binder, EchoService? service) =>
        binder.AddMethod(GrpcEcho.EchoMethod, service is null ? null : new DuplexStreamingServerMethod<byte[], byte[]>(service.Echo));

    public virtual async Task Echo(IAsyncStreamReader<byte[]> requests, IServerStreamWriter<byte[]> responses, ServerCallContext context)
    {
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
            await responses.WriteAsync(requests.Current).ConfigureAwait(false);
    }
}
