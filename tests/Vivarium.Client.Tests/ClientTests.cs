using System.Net;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests;

public class ClientTests
{
    private const string SessionJson = """{"id": "ses_1", "status": "ready"}""";

    [Theory]
    [InlineData("http://host/vivarium/", "/vivarium/v1/sessions/ses_1")]
    [InlineData("http://host/vivarium", "/vivarium/v1/sessions/ses_1")]
    [InlineData("http://host", "/v1/sessions/ses_1")]
    public async Task BaseAddressWithAPath_KeepsThePrefix(string baseAddress, string expected)
    {
        var handler = new FakeHttpHandler(Responses.Json(SessionJson));
        var client = TestClient.Create(handler, new Uri(baseAddress));

        await client.GetSessionAsync("ses_1");

        Assert.Equal(expected, handler.Single.PathAndQuery);
    }

    [Fact]
    public void HttpClientWithoutBaseAddress_IsRefused()
    {
        using var http = new HttpClient();

        Assert.Throws<ArgumentException>(() => new VivariumClient(http, "key"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" ")]
    public void MissingApiKey_IsRefused(string? key)
    {
        using var http = new HttpClient { BaseAddress = TestClient.BaseAddress };

        Assert.ThrowsAny<ArgumentException>(() => new VivariumClient(http, key!));
        Assert.ThrowsAny<ArgumentException>(() => new VivariumClient(new VivariumClientOptions { BaseAddress = TestClient.BaseAddress, ApiKey = key }));
    }

    [Fact]
    public void OptionsWithoutAnAbsoluteAddress_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new VivariumClient(new VivariumClientOptions { ApiKey = "k" }));
        Assert.Throws<ArgumentException>(() => new VivariumClient(new VivariumClientOptions { ApiKey = "k", BaseAddress = new Uri("/v", UriKind.Relative) }));
    }

    [Fact]
    public async Task Dispose_LeavesABorrowedHttpClientUsable()
    {
        var handler = new FakeHttpHandler((_, _) => Responses.Json(SessionJson));
        using var http = new HttpClient(handler) { BaseAddress = TestClient.BaseAddress };

        new VivariumClient(http, "key").Dispose();

        using var response = await http.GetAsync(new Uri("v1/sessions/ses_1", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void OptionsTimeout_DefaultsAboveTheServersLongestExecution()
    {
        Assert.True(new VivariumClientOptions().Timeout > TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task Probes_AnswerWithoutTheApiKeyAndReturnUnhealthyAsAResult()
    {
        var handler = new FakeHttpHandler((request, _) => request.PathAndQuery == "/readyz"
            ? Responses.Text("warming up", "text/plain", HttpStatusCode.ServiceUnavailable)
            : Responses.Json("""{"status":"ok"}"""));
        var client = TestClient.Create(handler);

        var health = await client.GetHealthAsync();
        var ready = await client.GetReadyAsync();

        Assert.True(health.IsOk);
        Assert.Equal("""{"status":"ok"}""", health.Body);
        Assert.False(ready.IsOk);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("warming up", ready.Body);
        Assert.All(handler.Requests, r => Assert.Null(r.Headers.Authorization));
        Assert.Equal(["/healthz", "/readyz"], handler.Requests.Select(r => r.PathAndQuery));
    }
}
