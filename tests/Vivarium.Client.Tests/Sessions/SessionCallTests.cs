using System.Net;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests.Sessions;

public class SessionCallTests
{
    private const string SessionJson = """
        {"id": "ses_1", "status": "ready", "created_at": "2030-01-02T03:04:05Z", "last_activity_at": "2030-01-02T03:04:06Z",
         "expires_at": "2030-01-02T03:24:06Z", "idle_timeout_seconds": 1200, "execution_count": 0,
         "limits": {"memory_bytes": null, "max_processes": 64, "cpu_cores": 0.5},
         "metadata": {"user": "alice"}, "python_version": "3.11.2"}
        """;

    private static (VivariumClient, FakeHttpHandler) Serve(Func<HttpResponseMessage> response)
    {
        var handler = new FakeHttpHandler((_, _) => response());
        return (TestClient.Create(handler), handler);
    }

    [Fact]
    public async Task CreateSession_WithOptions_PostsSnakeCaseBodyWithoutNulls()
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson, HttpStatusCode.Created));

        await client.CreateSessionAsync(new CreateSessionOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(599.2),
            Env = new Dictionary<string, string> { ["NAME"] = "value" },
            Limits = new SessionLimits { MemoryBytes = 536870912, CpuCores = 0.5 },
            Metadata = new Dictionary<string, string> { ["user"] = "alice" },
        });

        var request = handler.Single;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/sessions", request.PathAndQuery);
        Assert.Equal("application/json", request.ContentType?.MediaType);
        Assert.Equal(request.Body.Length, request.ContentLength);
        // Idle timeout rounds up to whole seconds; the unset max_processes is left out, not null.
        Assert.Equal(
            """{"idle_timeout_seconds":600,"env":{"NAME":"value"},"limits":{"memory_bytes":536870912,"cpu_cores":0.5},"metadata":{"user":"alice"}}""",
            request.BodyText);
    }

    [Fact]
    public async Task CreateSession_WithoutOptions_PostsAnEmptyObject()
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson, HttpStatusCode.Created));

        await client.CreateSessionAsync();

        Assert.Equal("{}", handler.Single.BodyText);
    }

    [Fact]
    public async Task CreateSession_Answer_IsReadAsASession()
    {
        var (client, _) = Serve(() => Responses.Json(SessionJson, HttpStatusCode.Created));

        var session = await client.CreateSessionAsync();

        Assert.Equal("ses_1", session.Id);
        Assert.Equal(SessionStatus.Ready, session.Status);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero), session.CreatedAt);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 24, 6, TimeSpan.Zero), session.ExpiresAt);
        Assert.Equal(TimeSpan.FromMinutes(20), session.IdleTimeout);
        Assert.Equal(new SessionLimits { MaxProcesses = 64, CpuCores = 0.5 }, session.Limits);
        Assert.Equal("alice", session.Metadata["user"]);
        Assert.Equal("3.11.2", session.PythonVersion);
    }

    [Fact]
    public async Task Session_UnknownStatus_ReadsAsUnknown()
    {
        var (client, _) = Serve(() => Responses.Json("""{"id":"ses_1","status":"hibernating"}"""));

        var session = await client.GetSessionAsync("ses_1");

        Assert.Equal(SessionStatus.Unknown, session.Status);
        Assert.Empty(session.Metadata);
    }

    [Fact]
    public async Task EveryV1Call_SendsTheApiKeyAsBearer()
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson));

        await client.GetSessionAsync("ses_1");

        var authorization = handler.Single.Headers.Authorization;
        Assert.Equal("Bearer", authorization?.Scheme);
        Assert.Equal(TestClient.ApiKey, authorization?.Parameter);
        Assert.Equal("application/json", Assert.Single(handler.Single.Headers.Accept).MediaType);
    }

    [Fact]
    public async Task GetSession_EscapesTheId()
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson));

        await client.GetSessionAsync("ses 1/2?x#y");

        Assert.Equal("/v1/sessions/ses%201%2F2%3Fx%23y", handler.Single.PathAndQuery);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(".")]
    [InlineData("..")]
    public void SessionCalls_IdThatNamesNoSession_ThrowArgumentException(string id)
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson));

        Assert.ThrowsAny<ArgumentException>(() => { _ = client.GetSessionAsync(id); });
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task ListSessions_UnwrapsTheList()
    {
        var (client, handler) = Serve(() => Responses.Json($$"""{"sessions": [{{SessionJson}}, {"id": "ses_2", "status": "busy"}]}"""));

        var sessions = await client.ListSessionsAsync();

        Assert.Equal(HttpMethod.Get, handler.Single.Method);
        Assert.Equal("/v1/sessions", handler.Single.PathAndQuery);
        Assert.Equal(["ses_1", "ses_2"], sessions.Select(s => s.Id));
        Assert.Equal(SessionStatus.Busy, sessions[1].Status);
    }

    [Fact]
    public async Task DeleteSession_SendsDelete()
    {
        var (client, handler) = Serve(Responses.NoContent);

        await client.DeleteSessionAsync("ses_1");

        Assert.Equal(HttpMethod.Delete, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1", handler.Single.PathAndQuery);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Interrupt_ReturnsWhetherSomethingWasRunning(bool interrupted)
    {
        var (client, handler) = Serve(() => Responses.Json($$"""{"interrupted": {{(interrupted ? "true" : "false")}}}"""));

        Assert.Equal(interrupted, await client.InterruptAsync("ses_1"));
        Assert.Equal(HttpMethod.Post, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1/interrupt", handler.Single.PathAndQuery);
    }

    [Fact]
    public async Task Restart_PostsAndReadsTheSession()
    {
        var (client, handler) = Serve(() => Responses.Json(SessionJson));

        var session = await client.RestartAsync("ses_1");

        Assert.Equal(HttpMethod.Post, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1/restart", handler.Single.PathAndQuery);
        Assert.Equal("ses_1", session.Id);
    }

    [Fact]
    public async Task Calls_PassTheCancellationTokenToTheTransport()
    {
        using var cts = new CancellationTokenSource();
        var handler = new FakeHttpHandler((_, token) =>
        {
            Assert.Equal(cts.Token.CanBeCanceled, token.CanBeCanceled);
            cts.Cancel();
            token.ThrowIfCancellationRequested();
            return Responses.Json(SessionJson);
        });
        var client = TestClient.Create(handler);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetSessionAsync("ses_1", cts.Token));
    }
}
