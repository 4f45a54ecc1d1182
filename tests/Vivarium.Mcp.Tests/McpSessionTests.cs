using System.Net;
using System.Net.Http.Json;
using System.Text;
using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace Vivarium.Mcp.Tests;

/// <summary>One Python session per MCP session, over the real Streamable HTTP endpoint.</summary>
[Collection("Mcp")]
public sealed class McpSessionTests(McpServerFixture server)
{
    [Fact]
    public async Task Two_MCP_sessions_have_separate_Python_state_and_deleting_one_ends_its_session()
    {
        await using var first = await server.ConnectAsync();
        await using var second = await server.ConnectAsync();
        Assert.NotNull(first.SessionId);
        Assert.NotEqual(first.SessionId, second.SessionId);

        var one = (await first.CallAsync("execute_python", new { code = "x = 'one'\nx" })).AssertOk();
        var two = (await second.CallAsync("execute_python", new { code = "x = 'two'\nx" })).AssertOk();
        Assert.NotEqual(one.SessionId(), two.SessionId());

        Assert.Contains("'one'", (await first.CallAsync("execute_python", new { code = "x" })).AssertOk().Text());
        Assert.Contains("'two'", (await second.CallAsync("execute_python", new { code = "x" })).AssertOk().Text());
        Assert.NotNull(server.Sessions.TryGet("a", one.SessionId()));

        // Ending the first MCP session (HTTP DELETE, as a client does on shutdown) ends its
        // Python session before the DELETE is answered; the other one is untouched.
        using var http = server.Http();
        using var delete = new HttpRequestMessage(HttpMethod.Delete, "/mcp");
        delete.Headers.Add("Mcp-Session-Id", first.SessionId);
        delete.Headers.Add("MCP-Protocol-Version", first.NegotiatedProtocolVersion);
        using var deleted = await http.SendAsync(delete);
        Assert.True(deleted.IsSuccessStatusCode, $"{(int)deleted.StatusCode}: {await deleted.Content.ReadAsStringAsync()}");

        Assert.Null(server.Sessions.TryGet("a", one.SessionId()));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/sessions/{one.SessionId()}")).StatusCode);
        Assert.Contains("'two'", (await second.CallAsync("execute_python", new { code = "x" })).AssertOk().Text());
    }

    [Fact]
    public async Task Tool_calls_share_the_tenants_rate_with_the_REST_API_and_a_refusal_says_when_to_retry()
    {
        await using var client = await server.ConnectAsync(McpServerFixture.KeyLimited);
        // One of the minute's executions goes through REST: the budget is the key's, not the surface's.
        using var http = server.Http(McpServerFixture.KeyLimited);
        var created = await http.PostAsJsonAsync("/v1/sessions", new { });
        var id = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString();
        try
        {
            var rest = await http.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "1" });
            Assert.Equal(HttpStatusCode.OK, rest.StatusCode);

            string? refusal = null;
            int ran = 0;
            for (int i = 0; i < McpServerFixture.LimitedExecutionsPerMinute + 1 && refusal is null; i++)
            {
                var result = await client.CallAsync("execute_python", new { code = "ran = True" });
                if (result.IsError == true)
                {
                    refusal = result.AssertError();
                }
                else
                {
                    ran++;
                }
            }
            Assert.NotNull(refusal);
            Assert.True(ran < McpServerFixture.LimitedExecutionsPerMinute, $"{ran} tool calls ran after a REST execution, with a budget of {McpServerFixture.LimitedExecutionsPerMinute}");
            Assert.Contains("Rate limit", refusal);
            Assert.Matches(@"Try again in \d+ s", refusal);

            // And the other way round: REST is refused once the tool calls have used the budget.
            var limited = await http.PostAsJsonAsync($"/v1/sessions/{id}/execute", new { code = "1" });
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        }
        finally
        {
            await http.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task Another_tenant_can_use_neither_the_MCP_session_nor_the_Python_session_id()
    {
        await using var a = await server.ConnectAsync(McpServerFixture.KeyA);
        var sessionId = (await a.CallAsync("execute_python", new { code = "secret = 1" })).AssertOk().SessionId();

        await using var b = await server.ConnectAsync(McpServerFixture.KeyB);
        var refused = (await b.CallAsync("execute_python", new { code = "secret", session_id = sessionId })).AssertError();
        Assert.Contains("session_id", refused);

        // Tenant b's key on tenant a's MCP session id: the SDK compares the principals' name identifiers (the tenants).
        using var http = server.Http(McpServerFixture.KeyB);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Mcp-Session-Id", a.SessionId);
        request.Headers.Add("MCP-Protocol-Version", a.NegotiatedProtocolVersion);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_named_session_from_the_REST_API_is_used_when_session_id_is_given()
    {
        using var http = server.Http();
        using var created = await http.PostAsJsonAsync("/v1/sessions", new { });
        var sessionId = (await created.Content.ReadFromJsonAsync<Dictionary<string, object>>())!["id"].ToString()!;
        await using var client = await server.ConnectAsync();

        (await client.CallAsync("execute_python", new { code = "shared = 'via mcp'", session_id = sessionId })).AssertOk();
        using var executed = await http.PostAsJsonAsync($"/v1/sessions/{sessionId}/execute", new { code = "shared" });
        Assert.Contains("via mcp", await executed.Content.ReadAsStringAsync());
        await http.DeleteAsync($"/v1/sessions/{sessionId}");
    }

    [Fact]
    public async Task Progress_notifications_carry_the_output_while_code_runs()
    {
        // Cancellation is tested in tests/mcp with the TypeScript client: the .NET client (2.4.0)
        // closes the POST stream instead of sending notifications/cancelled, and the spec says a
        // disconnect is not a cancellation.
        await using var client = await server.ConnectAsync();
        var seen = new Progress();
        var ticked = await client.CallAsync("execute_python",
            new { code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)" }, seen);
        ticked.AssertOk();
        Assert.Contains(seen.Messages, m => m.Contains("tick", StringComparison.Ordinal));
    }

    /// <summary>Collects progress messages synchronously, in the order they arrive.</summary>
    private sealed class Progress : IProgress<ProgressNotificationValue>
    {
        private readonly List<string> _messages = [];

        public IReadOnlyList<string> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        public void Report(ProgressNotificationValue value)
        {
            lock (_messages)
            {
                _messages.Add(value.Message ?? "");
            }
        }
    }
}
