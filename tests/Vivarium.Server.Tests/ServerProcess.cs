using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Vivarium.Server.Tests;

/// <summary>
/// A real server process (Vivarium.Server.dll) on a port and a state directory of its own, for
/// the tests that signal or kill it. Its console output is kept in <see cref="Log"/>. Disposing
/// kills it if it still runs and deletes the state directory.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly StringBuilder _log = new();

    private ServerProcess(Process process, string stateDirectory, int port)
    {
        Process = process;
        StateDirectory = stateDirectory;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public Process Process { get; }
    public string StateDirectory { get; }
    public Uri Address { get; }

    /// <summary>What the server wrote to stdout and stderr so far (all of it once it has exited).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts a server with <see cref="ServerFixture.Arguments"/> plus <paramref name="extraArguments"/>; <paramref name="name"/> names its state directory.</summary>
    public static ServerProcess Start(string name, params string[] extraArguments)
    {
        var state = Path.Combine("/tmp", $"vivarium-{name}-" + Guid.NewGuid().ToString("N")[..8]);
        int port = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Vivarium.Server.dll"));
        foreach (var arg in ServerFixture.Arguments(state, extraArguments))
        {
            start.ArgumentList.Add(arg == "http://127.0.0.1:0" ? $"http://127.0.0.1:{port}" : arg);
        }
        var server = new ServerProcess(Process.Start(start)!, state, port);
        server.Process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server.Process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server.Process.BeginOutputReadLine();
        server.Process.BeginErrorReadLine();
        return server;
    }

    /// <summary>A client of this server, authenticated as tenant A.</summary>
    public HttpClient NewClient(HttpMessageHandler? handler = null)
    {
        var client = handler is null ? new HttpClient() : new HttpClient(handler);
        client.BaseAddress = Address;
        client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
        return client;
    }

    /// <summary>Waits until /readyz answers 200 (at most 90 s: a cold start builds the pool).</summary>
    public async Task WaitUntilReadyAsync(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await IsReadyAsync(client))
        {
            Assert.True(DateTime.UtcNow < deadline, "the server did not become ready");
            await Task.Delay(100);
        }
    }

    /// <summary>Sends SIGTERM, as a service manager stopping it would.</summary>
    public void Terminate() =>
        Process.Start("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }
        await Process.WaitForExitAsync(); // and for the end of its output
        Process.Dispose();
        Directory.Delete(StateDirectory, recursive: true);
    }

    private void Append(string? line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private static async Task<bool> IsReadyAsync(HttpClient client)
    {
        try
        {
            return (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
