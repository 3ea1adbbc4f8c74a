using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using UniPerceiverMoe.Actors.Cluster.DataPlane;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// The floor of <c>upmoe bench hop</c>: a plain .NET socket echo between two processes. Frames carry the data
/// plane's framing (<see cref="DataPlaneFrames.Header"/>) around the raw tensor bytes; the server reads a whole frame
/// into one reused buffer and writes it back, the client does the same for the reply. Blocking sockets on one thread
/// each: nothing but the kernel and two copies per direction.
/// </summary>
public static class RawEcho
{
    /// <summary>The line the server prints once it listens: <c>echo-up PORT</c>.</summary>
    public const string UpLinePrefix = "echo-up ";

    /// <summary>Serves one connection at a time on 127.0.0.1 until stdin closes (the parent process ended).</summary>
    public static void Serve(TextWriter output)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        output.WriteLine($"{UpLinePrefix}{((IPEndPoint)listener.LocalEndpoint).Port}");
        output.Flush();
        var stopper = new Thread(() =>
        {
            try { Console.In.ReadToEnd(); } catch (IOException) { }
            Environment.Exit(0);
        }) { IsBackground = true };
        stopper.Start();
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var socket = listener.AcceptSocket();
            socket.NoDelay = true;
            try
            {
                while (true)
                {
                    int length = ReadFrame(socket, ref buffer);
                    if (length == 0) break;
                    socket.Send(buffer.AsSpan(0, length));
                }
            }
            catch (SocketException)
            {
            }
        }
    }

    /// <summary>The client side: one blocking socket, one frame in flight at a time, one reused reply buffer.</summary>
    public sealed class Client : IEchoClient
    {
        private readonly Socket socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private byte[] buffer = new byte[1 << 16];

        public Client(int port) => socket.Connect("127.0.0.1", port);

        public int Echo(byte[] frame)
        {
            socket.Send(frame);
            return ReadFrame(socket, ref buffer);
        }

        public void Dispose()
        {
            try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            socket.Dispose();
        }
    }

    /// <summary>Reads one frame into <paramref name="buffer"/> (grown as needed); returns its length, 0 at end of stream.</summary>
    public static int ReadFrame(Socket socket, ref byte[] buffer)
    {
        const int prefix = DataPlaneFrames.PrefixBytes;
        if (!Fill(socket, buffer, 0, prefix)) return 0;
        int manifest = buffer[8];
        long body = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(9));
        int total = checked(prefix + manifest + (int)body);
        if (buffer.Length < total) Array.Resize(ref buffer, total);
        if (!Fill(socket, buffer, prefix, manifest + (int)body)) throw new EndOfStreamException("echo: frame cut short.");
        return total;
    }

    private static bool Fill(Socket socket, byte[] buffer, int offset, int count)
    {
        int read = 0;
        while (read < count)
        {
            int n = socket.Receive(buffer, offset + read, count - read, SocketFlags.None);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }
}
