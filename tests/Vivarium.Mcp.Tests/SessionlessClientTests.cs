namespace Vivarium.Mcp.Tests;

/// <summary>A server that also serves 2026-07-28 clients, which have no HTTP sessions.</summary>
public sealed class SessionlessServerFixture : McpServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Vivarium:Mcp:ServeSessionlessClients=true"];
}

/// <summary>Clients without HTTP sessions keep state by passing session_id, which each result tells them.</summary>
[Collection("Mcp")]
public sealed class SessionlessClientTests(SessionlessServerFixture server) : IClassFixture<SessionlessServerFixture>
{
    [Fact]
    public async Task A_client_without_HTTP_sessions_is_told_its_session_id_and_keeps_state_by_passing_it()
    {
        await using var client = await server.ConnectAsync(protocolVersion: "2026-07-28");
        Assert.Null(client.SessionId);

        var first = (await client.CallAsync("execute_python", new { code = "x = 'kept'" })).AssertOk();
        var sessionId = first.SessionId();
        Assert.Contains($"session_id=\"{sessionId}\"", first.Text());
        // Each request of such a client is its own connection: the session outlives it.
        Assert.NotNull(server.Sessions.TryGet("a", sessionId));

        var second = (await client.CallAsync("execute_python", new { code = "x", session_id = sessionId })).AssertOk();
        Assert.Contains("'kept'", second.Text());
        Assert.Equal(sessionId, second.SessionId());
        await server.Sessions.DeleteAsync("a", sessionId);
    }
}

/// <summary>By default a 2026-07-28 request is refused, so a dual-path client falls back to a session.</summary>
[Collection("Mcp")]
public sealed class DefaultProtocolTests(McpServerFixture server)
{
    [Fact]
    public async Task A_client_preferring_2026_07_28_falls_back_to_the_initialize_handshake_and_gets_a_session()
    {
        await using var client = await server.ConnectAsync();
        Assert.NotNull(client.SessionId);
        Assert.NotEqual("2026-07-28", client.NegotiatedProtocolVersion);
    }
}
