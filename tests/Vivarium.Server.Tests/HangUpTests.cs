using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;

namespace Vivarium.Server.Tests;

/// <summary>A client that hangs up on an event stream while the code is quiet: the code is interrupted, and the server logs no error.</summary>
public sealed class HangUpTests
{
    [Fact]
    public async Task EventStream_ClientHangsUpWhileCodeIsQuiet_InterruptsWithoutAnUnhandledException()
    {
        var state = Path.Combine("/tmp", "vivarium-hangup-" + Guid.NewGuid().ToString("N")[..8]);
        int port = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Vivarium.Server.dll"));
        foreach (var arg in ServerFixture.Arguments(state).Select(a => a == "http://127.0.0.1:0" ? $"http://127.0.0.1:{port}" : a))
        {
            start.ArgumentList.Add(arg);
        }
        var log = new StringBuilder();
        using var server = Process.Start(start)!;
        server.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            // No response draining: disposing the response closes the connection at once, as a
            // client that goes away does.
            using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!await IsReadyAsync(client))
            {
                Assert.True(DateTime.UtcNow < deadline, "the server did not become ready");
                await Task.Delay(100);
            }
            var id = await client.CreateSessionAsync();

            // The race (disposing the events' reader while its read is pending) lost more
            // often than not; five hang-ups make a miss unlikely.
            for (int i = 0; i < 5; i++)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/execute") { Content = JsonContent.Create(new { code = "import time\nprint('running', flush=True)\ntime.sleep(1000)" }) };
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
                {
                    using var events = new EventStream(await response.Content.ReadAsStreamAsync());
                    Assert.Equal("stream", (await events.NextAsync())!.Name);
                }
                var clock = Stopwatch.StartNew();
                while ((await (await client.GetAsync($"/v1/sessions/{id}")).JsonAsync()).GetProperty("status").GetString() != "ready")
                {
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the code was not interrupted after the client hung up");
                    await Task.Delay(20);
                }
            }
            var after = await client.ExecuteAsync(id, "1 + 1");
            Assert.Equal("ok", after.GetProperty("status").GetString());
        }
        finally
        {
            Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            if (!server.WaitForExit(30_000))
            {
                server.Kill(entireProcessTree: true);
            }
            server.WaitForExit();
            Directory.Delete(state, recursive: true);
        }
        string text;
        lock (log)
        {
            text = log.ToString();
        }
        Assert.False(text.Contains("fail: ", StringComparison.Ordinal) || text.Contains("Exception", StringComparison.Ordinal), "the server logged an error:\n" + text);
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
