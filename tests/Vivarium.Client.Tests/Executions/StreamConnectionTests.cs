using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Vivarium.Client.Tests.Executions;

/// <summary>
/// Over a real loopback socket, because what is tested is the TCP connection itself: leaving a
/// stream early must close it, since that is how the server learns to interrupt the code.
/// </summary>
public sealed class StreamConnectionTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public StreamConnectionTests() => _listener.Start();

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task StreamExecute_CallerStopsEarly_ClosesTheConnectionWithoutWaitingForADrain()
    {
        var closed = ServeOneEventThenWaitForCloseAsync();
        using var http = NeverGivingUpDrainClient();
        var client = new VivariumClient(http, "key");

        await foreach (var e in client.StreamExecuteAsync("ses_1", "while True: pass"))
        {
            Assert.IsType<OutputEvent>(e);
            break;
        }

        // Without the abort, SocketsHttpHandler would drain the endless body for an hour here.
        await closed.WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task StreamExecute_Cancelled_ClosesTheConnection()
    {
        var closed = ServeOneEventThenWaitForCloseAsync();
        using var http = NeverGivingUpDrainClient();
        var client = new VivariumClient(http, "key");
        using var cts = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.StreamExecuteAsync("ses_1", "while True: pass", cancellationToken: cts.Token))
            {
                await cts.CancelAsync();
            }
        });

        await closed.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private HttpClient NeverGivingUpDrainClient()
    {
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        var handler = new SocketsHttpHandler { ResponseDrainTimeout = TimeSpan.FromHours(1), MaxResponseDrainSize = int.MaxValue };
        return new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    /// <summary>Answers one request with an event stream that sends one event and then stays open; completes when the client closes.</summary>
    private async Task ServeOneEventThenWaitForCloseAsync()
    {
        using var socket = await _listener.AcceptSocketAsync();
        var buffer = new byte[64 * 1024];
        await ReadRequestAsync(socket, buffer);
        const string data = "event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n";
        var response =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
            $"{Encoding.UTF8.GetByteCount(data):X}\r\n{data}\r\n";
        await socket.SendAsync(Encoding.UTF8.GetBytes(response));
        while (await socket.ReceiveAsync(buffer) > 0)
        {
        }
    }

    private static async Task ReadRequestAsync(Socket socket, byte[] buffer)
    {
        var length = 0;
        while (true)
        {
            length += await socket.ReceiveAsync(buffer.AsMemory(length));
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            var headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headersEnd < 0)
            {
                continue;
            }
            var contentLength = text[..headersEnd].Split("\r\n")
                .Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture))
                .SingleOrDefault();
            if (length >= headersEnd + 4 + contentLength)
            {
                return;
            }
        }
    }
}
