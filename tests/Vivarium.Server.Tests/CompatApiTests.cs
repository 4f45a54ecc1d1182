using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Vivarium.Server.Tests;

/// <summary>
/// The E2B and Terrarium surfaces keep Vivarium's tenants and limits (the SDK's own behaviour
/// is tested in tests/compat with the real npm SDK).
/// </summary>
[Collection("Server")]
public sealed class CompatApiTests(ServerFixture server)
{
    private sealed record Sandbox(string Id, string Token);

    private static async Task<Sandbox> CreateSandboxAsync(HttpClient e2b)
    {
        var response = await e2b.PostAsJsonAsync("/v2/sandboxes", new { templateID = "code-interpreter-v1", timeout = 300 });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal("0.5.7", body.GetProperty("envdVersion").GetString());
        return new Sandbox(body.GetProperty("sandboxID").GetString()!, body.GetProperty("envdAccessToken").GetString()!);
    }

    /// <summary>The SDK's control-plane client: the API key in X-API-Key, no Authorization header.</summary>
    private HttpClient E2bClient(string key)
    {
        var client = server.Client(null);
        client.DefaultRequestHeaders.Add("X-API-Key", key);
        return client;
    }

    private static HttpRequestMessage SandboxRequest(HttpMethod method, string path, Sandbox sandbox, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("E2b-Sandbox-Id", sandbox.Id);
        request.Headers.Add("X-Access-Token", sandbox.Token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return request;
    }

    private static List<JsonElement> Lines(string ndjson) =>
        ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public async Task Execute_StreamsNdjson_AndTheSandboxIsAVivariumSession()
    {
        using var e2b = E2bClient(ServerFixture.KeyA);
        var sandbox = await CreateSandboxAsync(e2b);
        try
        {
            using var http = server.Client(null);
            var response = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/execute", sandbox, new { code = "print('hi')\n6 * 7" }));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var lines = Lines(await response.Content.ReadAsStringAsync());
            Assert.Equal(["stdout", "result", "number_of_executions", "end_of_execution"], lines.Select(l => l.GetProperty("type").GetString()));
            Assert.Equal("hi\n", lines[0].GetProperty("text").GetString());
            Assert.Equal("42", lines[1].GetProperty("text").GetString());

            // The same session through REST v1, with the state the E2B run left.
            using var rest = server.Client(ServerFixture.KeyA);
            var execution = await (await rest.PostAsJsonAsync($"/v1/sessions/{sandbox.Id}/execute", new { code = "_ + 0" })).JsonAsync();
            Assert.Equal("42", execution.GetProperty("result").GetProperty("text/plain").GetString());
        }
        finally
        {
            Assert.Equal(HttpStatusCode.NoContent, (await e2b.DeleteAsync($"/sandboxes/{sandbox.Id}")).StatusCode);
        }
    }

    [Fact]
    public async Task ARestSession_CanBeReachedWithConnect()
    {
        using var rest = server.Client(ServerFixture.KeyA);
        var id = await rest.CreateSessionAsync();
        try
        {
            await rest.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "from_rest = 'yes'" });
            using var e2b = E2bClient(ServerFixture.KeyA);
            var connected = await (await e2b.PostAsJsonAsync($"/v2/sandboxes/{id}/connect", new { timeout = 120 })).JsonAsync();
            var sandbox = new Sandbox(connected.GetProperty("sandboxID").GetString()!, connected.GetProperty("envdAccessToken").GetString()!);
            using var http = server.Client(null);
            var lines = Lines(await (await http.SendAsync(SandboxRequest(HttpMethod.Post, "/execute", sandbox, new { code = "from_rest" }))).Content.ReadAsStringAsync());
            Assert.Equal("yes", lines.First(l => l.GetProperty("type").GetString() == "result").GetProperty("text").GetString());
            // Connecting again hands out the same token.
            var again = await (await e2b.PostAsJsonAsync($"/v2/sandboxes/{id}/connect", new { })).JsonAsync();
            Assert.Equal(sandbox.Token, again.GetProperty("envdAccessToken").GetString());
        }
        finally
        {
            await rest.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Sandboxes_AreSeenOnlyByTheirTenant()
    {
        using var a = E2bClient(ServerFixture.KeyA);
        var sandbox = await CreateSandboxAsync(a);
        try
        {
            using var other = E2bClient(ServerFixture.KeyC);
            var detail = await other.GetAsync($"/sandboxes/{sandbox.Id}");
            Assert.Equal(HttpStatusCode.NotFound, detail.StatusCode);
            Assert.Equal(404, (await detail.JsonAsync()).GetProperty("code").GetInt32());
            Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsJsonAsync($"/v2/sandboxes/{sandbox.Id}/connect", new { })).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await other.DeleteAsync($"/sandboxes/{sandbox.Id}")).StatusCode);
            var listed = await (await other.GetAsync("/v2/sandboxes")).JsonAsync();
            Assert.DoesNotContain(listed.EnumerateArray(), s => s.GetProperty("sandboxID").GetString() == sandbox.Id);
        }
        finally
        {
            await a.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    [Fact]
    public async Task ControlPlane_NeedsTheApiKey_AndAnswersInE2bsShape()
    {
        using var anonymous = server.Client(null);
        var response = await anonymous.PostAsJsonAsync("/v2/sandboxes", new { templateID = "code-interpreter-v1" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal(401, body.GetProperty("code").GetInt32());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task SessionQuota_AppliesToSandboxesAndContexts()
    {
        using var b = E2bClient(ServerFixture.KeyB); // tenant b may hold one session
        var sandbox = await CreateSandboxAsync(b);
        try
        {
            var second = await b.PostAsJsonAsync("/v2/sandboxes", new { templateID = "code-interpreter-v1" });
            Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            Assert.Equal(429, (await second.JsonAsync()).GetProperty("code").GetInt32());

            using var http = server.Client(null);
            var context = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/contexts", sandbox, new { language = "python" }));
            Assert.Equal(HttpStatusCode.TooManyRequests, context.StatusCode);
        }
        finally
        {
            await b.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    [Fact]
    public async Task ExecutionsWithASandboxToken_CountAgainstTheSandboxsTenant()
    {
        using var c = E2bClient(ServerFixture.KeyC); // tenant c may run two executions a minute
        var sandbox = await CreateSandboxAsync(c);
        try
        {
            using var http = server.Client(null);
            HttpResponseMessage? limited = null;
            for (int i = 0; i < 3 && limited is null; i++)
            {
                var response = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/execute", sandbox, new { code = "1" }));
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    limited = response;
                }
            }
            Assert.NotNull(limited);
            Assert.NotNull(limited.Headers.RetryAfter);
        }
        finally
        {
            await c.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    private static async Task<string> CreateContextAsync(HttpClient http, Sandbox sandbox)
    {
        var response = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/contexts", sandbox, new { language = "python" }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("id").GetString()!;
    }

    private static async Task<bool> WaitUntilGoneAsync(HttpClient rest, string sessionId, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if ((await rest.GetAsync($"/v1/sessions/{sessionId}")).StatusCode == HttpStatusCode.NotFound)
            {
                return true;
            }
            await Task.Delay(250);
        }
        return false;
    }

    [Fact]
    public async Task Contexts_EndWithTheirSandbox_HoweverItEnds()
    {
        using var e2b = E2bClient(ServerFixture.KeyA);
        using var rest = server.Client(ServerFixture.KeyA);
        using var http = server.Client(null);
        var sandbox = await CreateSandboxAsync(e2b);
        var context = await CreateContextAsync(http, sandbox);
        Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync($"/v1/sessions/{context}")).StatusCode);

        // Ended behind the compat layer's back, through REST v1.
        await rest.DeleteAsync($"/v1/sessions/{sandbox.Id}");
        Assert.True(await WaitUntilGoneAsync(rest, context, TimeSpan.FromSeconds(20)), "the context outlived its sandbox");
    }

    [Fact]
    public async Task UsingAContext_KeepsTheSandboxAlive()
    {
        using var e2b = E2bClient(ServerFixture.KeyA);
        using var rest = server.Client(ServerFixture.KeyA);
        using var http = server.Client(null);
        var created = await e2b.PostAsJsonAsync("/v2/sandboxes", new { templateID = "code-interpreter-v1", timeout = 2 });
        var body = await created.JsonAsync();
        var sandbox = new Sandbox(body.GetProperty("sandboxID").GetString()!, body.GetProperty("envdAccessToken").GetString()!);
        var context = await CreateContextAsync(http, sandbox);
        try
        {
            // Eight seconds of work in the extra context only: four times the sandbox's idle timeout.
            var until = DateTime.UtcNow.AddSeconds(8);
            while (DateTime.UtcNow < until)
            {
                var run = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/execute", sandbox, new { code = "1", context_id = context }));
                Assert.Equal(HttpStatusCode.OK, run.StatusCode);
                await run.Content.ReadAsStringAsync();
                await Task.Delay(500);
            }
            Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync($"/v1/sessions/{sandbox.Id}")).StatusCode);

            // Left alone, both end.
            Assert.True(await WaitUntilGoneAsync(rest, sandbox.Id, TimeSpan.FromSeconds(20)));
            Assert.True(await WaitUntilGoneAsync(rest, context, TimeSpan.FromSeconds(20)));
        }
        finally
        {
            await e2b.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    [Fact]
    public async Task ALongRunInAContext_KeepsTheSandboxAlive()
    {
        using var e2b = E2bClient(ServerFixture.KeyA);
        using var rest = server.Client(ServerFixture.KeyA);
        using var http = server.Client(null);
        // An idle timeout above the reap interval (5 s here), so only the sweep can keep it alive.
        var created = await (await e2b.PostAsJsonAsync("/v2/sandboxes", new { templateID = "code-interpreter-v1", timeout = 7 })).JsonAsync();
        var sandbox = new Sandbox(created.GetProperty("sandboxID").GetString()!, created.GetProperty("envdAccessToken").GetString()!);
        try
        {
            var context = await CreateContextAsync(http, sandbox);
            var run = await http.SendAsync(SandboxRequest(HttpMethod.Post, "/execute", sandbox, new { code = "import time\ntime.sleep(16)\n'slept'", context_id = context }));
            var lines = Lines(await run.Content.ReadAsStringAsync());
            Assert.Equal("slept", lines.Single(l => l.GetProperty("type").GetString() == "result").GetProperty("text").GetString());
            Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync($"/v1/sessions/{sandbox.Id}")).StatusCode);
        }
        finally
        {
            await e2b.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    [Fact]
    public async Task AContextId_IsNotASandbox()
    {
        using var e2b = E2bClient(ServerFixture.KeyA);
        using var http = server.Client(null);
        var sandbox = await CreateSandboxAsync(e2b);
        try
        {
            var context = await CreateContextAsync(http, sandbox);
            Assert.Equal(HttpStatusCode.NotFound, (await e2b.GetAsync($"/sandboxes/{context}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await e2b.PostAsJsonAsync($"/v2/sandboxes/{context}/connect", new { })).StatusCode);
            var listed = await (await e2b.GetAsync("/v2/sandboxes")).JsonAsync();
            Assert.DoesNotContain(listed.EnumerateArray(), s => s.GetProperty("sandboxID").GetString() == context);
        }
        finally
        {
            await e2b.DeleteAsync($"/sandboxes/{sandbox.Id}");
        }
    }

    [Fact]
    public async Task Terrarium_RunsOnceWithFiles_AndLeavesNoSession()
    {
        using var client = server.Client(ServerFixture.KeyA);
        var before = (await (await client.GetAsync("/v1/sessions")).JsonAsync()).GetProperty("sessions").GetArrayLength();
        var response = await client.PostAsJsonAsync("/terrarium", new
        {
            code = "data = open('in.txt').read()\nimport os\nos.makedirs('out', exist_ok=True)\nopen('out/up.txt', 'w').write(data.upper())\nlen(data)",
            files = new[] { new { filename = "in.txt", b64_data = Convert.ToBase64String(Encoding.UTF8.GetBytes("abc")) } },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal(3, body.GetProperty("final_expression").GetInt32());
        var file = Assert.Single(body.GetProperty("output_files").EnumerateArray());
        Assert.Equal("out/up.txt", file.GetProperty("filename").GetString());
        Assert.Equal("ABC", Encoding.UTF8.GetString(Convert.FromBase64String(file.GetProperty("b64_data").GetString()!)));
        var after = (await (await client.GetAsync("/v1/sessions")).JsonAsync()).GetProperty("sessions").GetArrayLength();
        Assert.Equal(before, after);
    }
}
