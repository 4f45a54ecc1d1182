using System.Net;

namespace Vivarium.Server.Tests;

[Collection("Server")]
public sealed class OperationsTests(ServerFixture server)
{
    [Fact]
    public async Task HealthReadinessMetricsAndDocs_AnswerWithoutAKey()
    {
        using var client = server.Client(key: null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        var ready = await (await client.GetAsync("/readyz")).JsonAsync();
        Assert.Equal("ready", ready.GetProperty("status").GetString());

        using var authed = server.Client();
        var id = await authed.CreateSessionAsync();
        await authed.ExecuteAsync(id, "1");
        await authed.DeleteAsync($"/v1/sessions/{id}");
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("vivarium_executions", metrics);
        Assert.Contains("vivarium_execution_duration_seconds_bucket", metrics);
        Assert.Contains("vivarium_sessions", metrics);
        Assert.Contains("vivarium_pool_available", metrics);

        var openapi = await (await client.GetAsync("/openapi/v1.json")).JsonAsync();
        var paths = openapi.GetProperty("paths");
        foreach (var path in new[] { "/v1/sessions", "/v1/sessions/{id}", "/v1/sessions/{id}/execute", "/v1/execute", "/v1/sessions/{id}/files", "/v1/sessions/{id}/files/{path}", "/v1/sessions/{id}/interrupt", "/v1/sessions/{id}/restart" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"OpenAPI lacks {path}");
        }
        var docs = await client.GetAsync("/docs");
        Assert.Equal("text/html", docs.Content.Headers.ContentType!.MediaType);
        Assert.Contains("/openapi/v1.json", await docs.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-key")]
    public async Task V1WithoutAValidKey_AnswersUnauthorized(string? key)
    {
        using var client = server.Client(key);
        await (await client.GetAsync("/v1/sessions")).AssertProblemAsync(401, "unauthorized");
        await (await client.PostAsync("/v1/sessions", null)).AssertProblemAsync(401, "unauthorized");
    }
}
