using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Vivarium.Server.Tests;

/// <summary>A client that hangs up on an event stream while the code is quiet: the code is interrupted, and the server logs no error.</summary>
public sealed class HangUpTests
{
    [Fact]
    public async Task EventStream_ClientHangsUpWhileCodeIsQuiet_InterruptsWithoutAnUnhandledException()
    {
        await using var server = ServerProcess.Start("hangup");
        try
        {
            // No response draining: disposing the response closes the connection at once, as a
            // client that goes away does.
            using var client = server.NewClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
            await server.WaitUntilReadyAsync(client);
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
            server.Terminate();
            if (!server.Process.WaitForExit(30_000))
            {
                server.Process.Kill(entireProcessTree: true);
            }
            await server.Process.WaitForExitAsync(); // and for the end of its output
        }
        var text = server.Log;
        Assert.False(text.Contains("fail: ", StringComparison.Ordinal) || text.Contains("Exception", StringComparison.Ordinal), "the server logged an error:\n" + text);
    }
}
