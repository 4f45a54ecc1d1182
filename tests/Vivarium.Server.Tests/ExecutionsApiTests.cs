using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;

namespace Vivarium.Server.Tests;

[Collection("Server")]
public sealed class ExecutionsApiTests(ServerFixture server)
{
    private static HttpRequestMessage StreamRequest(string sessionId, string code, double? timeout = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{sessionId}/execute")
        {
            Content = JsonContent.Create(new { code, timeout_seconds = timeout }),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    [Fact]
    public async Task Execute_ReturnsTheExecutionWithResultAndSummary()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            await client.ExecuteAsync(id, "x = 41");
            var execution = await client.ExecuteAsync(id, "print('hi')\nx + 1");
            Assert.Equal("ok", execution.GetProperty("status").GetString());
            Assert.StartsWith("exe_", execution.GetProperty("id").GetString());
            Assert.Equal(id, execution.GetProperty("session_id").GetString());
            Assert.Equal("42", execution.GetProperty("result").GetProperty("text/plain").GetString());
            Assert.Equal("hi\n", execution.GetProperty("stdout").GetString());
            Assert.Equal(2, execution.GetProperty("execution_count").GetInt32());
            Assert.Contains("42", execution.GetProperty("summary").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task EventStream_SendsOutputsInOrderAndEndsWithDone()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var code = "print('first')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint('second')\n1/0";
            using var response = await client.SendAsync(StreamRequest(id, code), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
            using var stream = new EventStream(await response.Content.ReadAsStreamAsync());
            var events = await stream.ReadToEndAsync();

            var names = events.Select(e => e.Name).ToList();
            Assert.Equal("done", names[^1]);
            Assert.Equal(1, names.Count(n => n == "done"));
            int first = events.FindIndex(e => e.Name == "stream" && e.Data.GetProperty("text").GetString()!.Contains("first"));
            int chart = names.IndexOf("display_data");
            int second = events.FindIndex(e => e.Name == "stream" && e.Data.GetProperty("text").GetString()!.Contains("second"));
            int error = names.IndexOf("error");
            Assert.True(first >= 0 && first < chart && chart < second && second < error, string.Join(",", names));
            Assert.StartsWith("iVBORw0KGgo", events[chart].Data.GetProperty("data").GetProperty("image/png").GetString());
            Assert.Equal("ZeroDivisionError", events[error].Data.GetProperty("name").GetString());

            var done = events[^1].Data;
            Assert.Equal("error", done.GetProperty("status").GetString());
            Assert.Equal("first\nsecond\n", done.GetProperty("stdout").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Interrupt_StopsTheRunningCodeAndKeepsState_AndABusySessionSaysSo()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            await client.ExecuteAsync(id, "kept = 'yes'");
            using var response = await client.SendAsync(StreamRequest(id, "import time\nprint('started', flush=True)\ntime.sleep(1000)"), HttpCompletionOption.ResponseHeadersRead);
            using var stream = new EventStream(await response.Content.ReadAsStreamAsync());
            var started = await stream.NextAsync();
            Assert.Equal("stream", started!.Name);

            await (await client.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "1" })).AssertProblemAsync(409, "session_busy");
            var busy = await (await client.GetAsync($"/v1/sessions/{id}")).JsonAsync();
            Assert.Equal("busy", busy.GetProperty("status").GetString());

            var interrupt = await (await client.PostAsync($"/v1/sessions/{id}/interrupt", null)).JsonAsync();
            Assert.True(interrupt.GetProperty("interrupted").GetBoolean());
            var events = await stream.ReadToEndAsync();
            Assert.Equal("interrupted", events[^1].Data.GetProperty("status").GetString());

            var after = await client.ExecuteAsync(id, "kept");
            Assert.Equal("'yes'", after.GetProperty("result").GetProperty("text/plain").GetString());
            var idle = await (await client.PostAsync($"/v1/sessions/{id}/interrupt", null)).JsonAsync();
            Assert.False(idle.GetProperty("interrupted").GetBoolean());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task ClosingTheEventStream_InterruptsTheCode()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            using (var response = await client.SendAsync(StreamRequest(id, "import time\nprint('started', flush=True)\ntime.sleep(1000)"), HttpCompletionOption.ResponseHeadersRead))
            {
                using var stream = new EventStream(await response.Content.ReadAsStreamAsync());
                Assert.Equal("stream", (await stream.NextAsync())!.Name);
            } // the client goes away here

            // The session frees up well before the code's 1000 s (and before its 30 s timeout).
            var deadline = DateTime.UtcNow.AddSeconds(15);
            HttpResponseMessage next;
            while ((next = await client.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "'free'" })).StatusCode == HttpStatusCode.Conflict)
            {
                Assert.True(DateTime.UtcNow < deadline, "the session stayed busy after the client left");
                await Task.Delay(50);
            }
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Timeout_ReportsTimeoutAndKeepsTheSession()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var execution = await client.ExecuteAsync(id, "while True: pass", timeout: 1);
            Assert.Equal("timeout", execution.GetProperty("status").GetString());
            Assert.Contains("Timed out", execution.GetProperty("summary").GetString());
            var next = await client.ExecuteAsync(id, "1+1");
            Assert.Equal("2", next.GetProperty("result").GetProperty("text/plain").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Theory]
    [InlineData("""{"code": 5}""", 400, "invalid_request")]
    [InlineData("""{"timeout_seconds": 3}""", 400, "invalid_request")]
    [InlineData("""{"code": "1", "timeout_seconds": -1}""", 400, "invalid_request")]
    [InlineData("""{"code": "1", "timeout_seconds": 99999999}""", 400, "invalid_request")]
    [InlineData("""[1, 2]""", 400, "invalid_request")]
    public async Task BadExecuteBodies_AnswerWithTheirCode(string body, int status, string code)
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var response = await client.PostAsync($"/v1/sessions/{id}/execute", new StringContent(body, Encoding.UTF8, "application/json"));
            await response.AssertProblemAsync(status, code);
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task OversizedCodeAndBodies_AnswerPayloadTooLarge()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            // Over Vivarium:Execution:MaxCodeChars (20,000 in the fixture).
            var tooMuchCode = new string('#', 30_000);
            await (await client.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = tooMuchCode })).AssertProblemAsync(413, "payload_too_large");
            // Over Vivarium:Server:MaxRequestBodyBytes (2 MiB in the fixture).
            // With Expect: 100-continue, as clients send large uploads: the server refuses before
            // the body is sent. Without it the client may still be writing when the server,
            // having answered, closes the connection, and fails with a broken pipe before it
            // reads the answer (seen once in CI).
            using var upload = new HttpRequestMessage(HttpMethod.Put, $"/v1/sessions/{id}/files/big.bin")
            {
                Content = new ByteArrayContent(new byte[3 * 1024 * 1024]),
            };
            upload.Headers.ExpectContinue = true;
            await (await client.SendAsync(upload)).AssertProblemAsync(413, "payload_too_large");
            // Nothing changed: the session still works and has no file.
            var files = await (await client.GetAsync($"/v1/sessions/{id}/files")).JsonAsync();
            Assert.Empty(files.GetProperty("files").EnumerateArray());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task MissingContentType_AnswersInvalidRequest()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var response = await client.PostAsync($"/v1/sessions/{id}/execute", new StringContent("""{"code":"1"}""", Encoding.UTF8, "text/plain"));
            await response.AssertProblemAsync(400, "invalid_request");
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task TenantRate_AnswersRateLimitedWithRetryAfter()
    {
        using var c = server.Client(ServerFixture.KeyC);
        var id = await c.CreateSessionAsync();
        try
        {
            HttpResponseMessage? limited = null;
            for (int i = 0; i < 3 && limited is null; i++)
            {
                var response = await c.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "1" });
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    limited = response;
                }
            }
            Assert.NotNull(limited);
            await limited.AssertProblemAsync(429, "rate_limited");
            Assert.NotNull(limited.Headers.RetryAfter);
            // Other tenants are not affected.
            using var a = server.Client(ServerFixture.KeyA);
            Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/v1/sessions")).StatusCode);
        }
        finally
        {
            await c.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task OneShot_RunsWithInputFilesAndReturnsProducedFiles_ThenEndsTheSession()
    {
        using var client = server.Client();
        var csv = "city,temp\nOslo,3\nLima,19\n";
        var response = await client.PostAsJsonAsync("/v1/execute", new
        {
            code = "import pandas as pd\ndf = pd.read_csv('in.csv')\ndf.assign(f=df.temp * 9 / 5 + 32).to_csv('out.csv', index=False)\ndf.temp.mean()",
            files = new[] { new { path = "in.csv", content_base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(csv)) } },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.JsonAsync();
        var execution = body.GetProperty("execution");
        Assert.Equal("ok", execution.GetProperty("status").GetString());
        Assert.Equal("11.0", execution.GetProperty("result").GetProperty("text/plain").GetString());
        var produced = Assert.Single(body.GetProperty("files").EnumerateArray());
        Assert.Equal("out.csv", produced.GetProperty("path").GetString());
        var text = Encoding.UTF8.GetString(Convert.FromBase64String(produced.GetProperty("content_base64").GetString()!));
        Assert.Contains("Lima,19,66.2", text);
        var sessions = await (await client.GetAsync("/v1/sessions")).JsonAsync();
        Assert.DoesNotContain(sessions.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("id").GetString() == execution.GetProperty("session_id").GetString());
    }
}
