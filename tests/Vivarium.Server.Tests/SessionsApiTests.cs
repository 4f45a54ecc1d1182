using System.Net;
using System.Net.Http.Json;

namespace Vivarium.Server.Tests;

[Collection("Server")]
public sealed class SessionsApiTests(ServerFixture server)
{
    [Fact]
    public async Task CreateGetListDelete_FollowTheContract()
    {
        using var client = server.Client();
        var response = await client.PostAsJsonAsync("/v1/sessions", new { idle_timeout_seconds = 300, metadata = new { user = "alice" } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var session = await response.JsonAsync();
        var id = session.GetProperty("id").GetString()!;
        Assert.StartsWith("ses_", id);
        Assert.Equal(36, id.Length); // ses_ + 128 random bits in hex
        Assert.Equal($"/v1/sessions/{id}", response.Headers.Location!.OriginalString);
        Assert.Equal("ready", session.GetProperty("status").GetString());
        Assert.Equal(300, session.GetProperty("idle_timeout_seconds").GetDouble());
        Assert.Equal("alice", session.GetProperty("metadata").GetProperty("user").GetString());
        Assert.True(session.GetProperty("expires_at").GetDateTimeOffset() > session.GetProperty("created_at").GetDateTimeOffset());

        var fetched = await (await client.GetAsync($"/v1/sessions/{id}")).JsonAsync();
        Assert.Equal(id, fetched.GetProperty("id").GetString());

        var list = await (await client.GetAsync("/v1/sessions")).JsonAsync();
        Assert.Contains(list.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("id").GetString() == id);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sessions/{id}")).StatusCode);
        await (await client.GetAsync($"/v1/sessions/{id}")).AssertProblemAsync(404, "session_not_found");
        await (await client.DeleteAsync($"/v1/sessions/{id}")).AssertProblemAsync(404, "session_not_found");
    }

    [Fact]
    public async Task AnotherTenant_SeesNothingOfTheSession()
    {
        using var a = server.Client(ServerFixture.KeyA);
        using var c = server.Client(ServerFixture.KeyC);
        var id = await a.CreateSessionAsync();
        try
        {
            await (await c.GetAsync($"/v1/sessions/{id}")).AssertProblemAsync(404, "session_not_found");
            await (await c.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "1" })).AssertProblemAsync(404, "session_not_found");
            await (await c.GetAsync($"/v1/sessions/{id}/files")).AssertProblemAsync(404, "session_not_found");
            await (await c.DeleteAsync($"/v1/sessions/{id}")).AssertProblemAsync(404, "session_not_found");
            var list = await (await c.GetAsync("/v1/sessions")).JsonAsync();
            Assert.DoesNotContain(list.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("id").GetString() == id);
            // Still there for its owner.
            Assert.Equal(HttpStatusCode.OK, (await a.GetAsync($"/v1/sessions/{id}")).StatusCode);
        }
        finally
        {
            await a.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Restart_ClearsVariablesButKeepsFiles()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            await client.ExecuteAsync(id, "x = 5\nopen('kept.txt', 'w').write('still here')");
            var restarted = await client.PostAsync($"/v1/sessions/{id}/restart", null);
            Assert.Equal(HttpStatusCode.OK, restarted.StatusCode);
            var after = await client.ExecuteAsync(id, "print(open('kept.txt').read())\nx");
            Assert.Equal("error", after.GetProperty("status").GetString());
            Assert.Equal("NameError", after.GetProperty("error").GetProperty("name").GetString());
            Assert.Equal("still here\n", after.GetProperty("stdout").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task TenantSessionQuota_AnswersSessionLimitReached()
    {
        using var b = server.Client(ServerFixture.KeyB);
        var id = await b.CreateSessionAsync();
        try
        {
            await (await b.PostAsJsonAsync("/v1/sessions", new { })).AssertProblemAsync(429, "session_limit_reached");
        }
        finally
        {
            await b.DeleteAsync($"/v1/sessions/{id}");
        }
        // The quota is released with the session.
        var again = await b.CreateSessionAsync();
        await b.DeleteAsync($"/v1/sessions/{again}");
    }

    [Theory]
    [InlineData("""{"idle_timeout_seconds": -5}""")]
    [InlineData("""{"idle_timeout_seconds": "soon"}""")]
    [InlineData("""{"env": {"1BAD": "x"}}""")]
    [InlineData("""{"limits": {"memory_bytes": -1}}""")]
    [InlineData("""{"limits": {"memory_bytes": 99999999999999}}""")]
    [InlineData("""{"limits": {"max_processes": 100000}}""")]
    [InlineData("""{"metadata": "not an object"}""")]
    [InlineData("""{not json""")]
    public async Task CreateWithBadBody_AnswersInvalidRequest(string body)
    {
        using var client = server.Client();
        var response = await client.PostAsync("/v1/sessions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await response.AssertProblemAsync(400, "invalid_request");
    }

    [Fact]
    public async Task LowerLimits_AreAppliedToTheSandbox()
    {
        using var client = server.Client();
        var response = await client.PostAsJsonAsync("/v1/sessions", new { limits = new { memory_bytes = 300 * 1024 * 1024, max_processes = 32 } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var session = await response.JsonAsync();
        var id = session.GetProperty("id").GetString()!;
        try
        {
            Assert.Equal(300 * 1024 * 1024, session.GetProperty("limits").GetProperty("memory_bytes").GetInt64());
            // The sandbox feels the lower limit: 400 MB does not fit.
            var execution = await client.ExecuteAsync(id, "x = bytearray(400 * 1024 * 1024)");
            Assert.NotEqual("ok", execution.GetProperty("status").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Environment_ReachesTheCode()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync(new { env = new Dictionary<string, string> { ["GREETING"] = "hello from env" } });
        try
        {
            var execution = await client.ExecuteAsync(id, "import os; os.environ['GREETING']");
            Assert.Equal("'hello from env'", execution.GetProperty("result").GetProperty("text/plain").GetString());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }
}
