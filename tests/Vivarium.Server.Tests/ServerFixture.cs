using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Vivarium.Server.Tests;

/// <summary>
/// A real Vivarium server on Kestrel at 127.0.0.1 (a free port), with real sandboxes, shared by
/// the tests of the "Server" collection. Three tenants: a and b (b may hold one session) and
/// c (two executions a minute), so quotas can be hit without touching the others.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string KeyA = "key-tenant-a";
    public const string KeyB = "key-tenant-b";
    public const string KeyC = "key-tenant-c";

    private WebApplication? _app;

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-server-tests-" + Guid.NewGuid().ToString("N")[..8]);
    public Uri BaseAddress { get; private set; } = null!;
    public IServiceProvider Services => _app!.Services;

    public static string[] Arguments(string stateDirectory, params string[] extra) =>
    [
        "--urls", "http://127.0.0.1:0",
        $"--Vivarium:Sandbox:StateDirectory={stateDirectory}",
        "--Vivarium:Sandbox:MemoryLimitBytes=805306368",
        "--Vivarium:Pool:Size=1",
        "--Vivarium:Execution:MaxCodeChars=20000",
        "--Vivarium:Execution:InterruptGrace=00:00:02",
        "--Vivarium:Server:MaxRequestBodyBytes=2097152",
        $"--Vivarium:Auth:Keys:0:Key={KeyA}", "--Vivarium:Auth:Keys:0:Tenant=a",
        $"--Vivarium:Auth:Keys:1:Key={KeyB}", "--Vivarium:Auth:Keys:1:Tenant=b", "--Vivarium:Auth:Keys:1:MaxSessions=1",
        $"--Vivarium:Auth:Keys:2:Key={KeyC}", "--Vivarium:Auth:Keys:2:Tenant=c", "--Vivarium:Auth:Keys:2:ExecutionsPerMinute=2",
        "--Logging:LogLevel:Default=Warning",
        .. extra,
    ];

    public async Task InitializeAsync()
    {
        _app = VivariumServer.Build(Arguments(StateDirectory));
        await _app.StartAsync();
        BaseAddress = ListeningAddress(_app);
        using var client = Client(null);
        // Wait for the warm pool; bounded, so a broken backend fails the run instead of hanging it.
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while ((await client.GetAsync("/readyz")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the server did not become ready");
            }
            await Task.Delay(100);
        }
    }

    public static Uri ListeningAddress(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First());
    }

    public HttpClient Client(string? key = KeyA)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition("Server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;

/// <summary>Small helpers for reading the API's JSON.</summary>
public static class Api
{
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<string> CreateSessionAsync(this HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/v1/sessions", body ?? new { });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("id").GetString()!;
    }

    public static async Task<JsonElement> ExecuteAsync(this HttpClient client, string sessionId, string code, double? timeout = null)
    {
        var response = await client.PostAsJsonAsync($"/v1/sessions/{sessionId}/execute", new { code, timeout_seconds = timeout });
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.JsonAsync();
    }

    /// <summary>Asserts a problem+json answer with the given status and stable code.</summary>
    public static async Task AssertProblemAsync(this HttpResponseMessage response, int status, string code)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.JsonAsync();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }
}
