using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.ForkServer;

/// <summary>
/// The Unix socket forked sandboxes connect their runner channel to, in a directory only root
/// can enter. Each connection's first frame names its sandbox (an unguessable id); a connection
/// that names no sandbox being started is dropped.
/// </summary>
/// <remarks>
/// The sandbox's process connects while it is still root and outside its namespaces; once it
/// has pivoted into its own root the socket's path no longer exists for it, nor for anything it
/// starts, so no sandbox can reach the listener.
/// </remarks>
internal sealed class RunnerListener : IAsyncDisposable
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Socket>> _expected = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public RunnerListener(string directory)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        SocketPath = Path.Combine(directory, "runner.sock");
        File.Delete(SocketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _socket.Listen(512);
        _acceptLoop = AcceptLoopAsync();
    }

    public string SocketPath { get; }

    /// <summary>The connection of sandbox <paramref name="sandboxId"/>, once it arrives.</summary>
    public Task<Socket> Expect(string sandboxId)
    {
        var connection = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        _expected[sandboxId] = connection;
        return connection.Task;
    }

    /// <summary>Stops waiting for a sandbox (it failed, or was abandoned).</summary>
    public void Forget(string sandboxId)
    {
        if (_expected.TryRemove(sandboxId, out var connection))
        {
            connection.TrySetCanceled();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _socket.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = IdentifyAsync(connection);
        }
    }

    private async Task IdentifyAsync(Socket connection)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(HelloTimeout);
            // Not owning: on success the socket passes to the sandbox, which owns it from then on.
            var stream = new NetworkStream(connection, ownsSocket: false);
            // Exactly the hello, no read-ahead: the runner's ready may already follow it, and it
            // belongs to the sandbox's own reader.
            var frame = await new FrameReader(stream, 1024, readAhead: false).ReadFrameAsync(timeout.Token);
            string? id = null;
            if (frame is not null)
            {
                using var hello = JsonDocument.Parse(frame);
                if (hello.RootElement.TryGetProperty("type", out var type) && type.GetString() == "hello" &&
                    hello.RootElement.TryGetProperty("sandbox", out var sandbox))
                {
                    id = sandbox.GetString();
                }
            }
            if (id is not null && _expected.TryRemove(id, out var waiting) && waiting.TrySetResult(connection))
            {
                return;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or JsonException or ProtocolViolationException or SocketException)
        {
        }
        connection.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var id in _expected.Keys)
        {
            Forget(id);
        }
        _stop.Dispose();
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }
}
