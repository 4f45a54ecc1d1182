using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Vivarium.Engine.Sessions;
using Vivarium.Server;

// Tests that start sandboxes run one at a time: the machine has two cores and each start
// costs about a second of CPU.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Vivarium.Mcp.Tests;

/// <summary>
/// A real Vivarium server on Kestrel at 127.0.0.1 (a free port) with real sandboxes, a pool of
/// one, and three tenants: a, b, and one with a rate of two executions a minute. MCP file transfers are capped at 64 KiB so the limit is easy to hit.
/// </summary>
public class McpServerFixture : IAsyncLifetime
{
    public const string KeyA = "mcp-tests-key-a";
    public const string KeyB = "mcp-tests-key-b";
    public const string KeyLimited = "mcp-tests-key-limited";
    public const int LimitedExecutionsPerMinute = 2;
    public const int MaxFileBytes = 64 * 1024;

    private WebApplication? _app;

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-mcp-tests-" + Guid.NewGuid().ToString("N")[..8]);
    public Uri BaseAddress { get; private set; } = null!;
    public Uri Endpoint => new(BaseAddress, "/mcp");
    public SessionService Sessions => _app!.Services.GetRequiredService<SessionService>();

    protected virtual IEnumerable<string> ExtraArguments => [];

    public async Task InitializeAsync()
    {
        _app = VivariumServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Vivarium:Sandbox:StateDirectory={StateDirectory}",
            "--Vivarium:Sandbox:MemoryLimitBytes=805306368",
            "--Vivarium:Pool:Size=1",
            "--Vivarium:Execution:InterruptGrace=00:00:02",
            $"--Vivarium:Mcp:MaxFileBytes={MaxFileBytes}",
            $"--Vivarium:Auth:Keys:0:Key={KeyA}", "--Vivarium:Auth:Keys:0:Tenant=a",
            $"--Vivarium:Auth:Keys:1:Key={KeyB}", "--Vivarium:Auth:Keys:1:Tenant=b",
            $"--Vivarium:Auth:Keys:2:Key={KeyLimited}", "--Vivarium:Auth:Keys:2:Tenant=limited",
            $"--Vivarium:Auth:Keys:2:ExecutionsPerMinute={LimitedExecutionsPerMinute}",
            "--Logging:LogLevel:Default=Warning",
            .. ExtraArguments,
        ]);
        // Listening once StartAsync returns; a session waits for its sandbox by itself.
        await _app.StartAsync();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        BaseAddress = new Uri(addresses.First());
    }

    /// <summary>An MCP client on /mcp with the tenant's key, as a .NET agent would connect.</summary>
    /// <param name="key">The tenant's API key.</param>
    /// <param name="protocolVersion">Null for the client's default: it tries 2026-07-28 and falls back to the initialize handshake.</param>
    public Task<McpClient> ConnectAsync(string key = KeyA, string? protocolVersion = null) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = Endpoint,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {key}" },
            }),
            new McpClientOptions { ProtocolVersion = protocolVersion });

    public HttpClient Http(string? key = KeyA)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        }
        return client;
    }

    public virtual async Task DisposeAsync()
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

[CollectionDefinition("Mcp")]
public sealed class McpCollection : ICollectionFixture<McpServerFixture>;

/// <summary>Reading tool results.</summary>
public static class Results
{
    public static async Task<CallToolResult> CallAsync(this McpClient client, string tool, object? arguments = null, IProgress<ModelContextProtocol.ProgressNotificationValue>? progress = null, CancellationToken cancellationToken = default)
    {
        var dictionary = arguments is null
            ? new Dictionary<string, object?>()
            : JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(arguments))!;
        return await client.CallToolAsync(tool, dictionary, progress, cancellationToken: cancellationToken);
    }

    public static string Text(this CallToolResult result) =>
        string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    public static string SessionId(this CallToolResult result) =>
        result.Meta!["vivarium.dev/session_id"]!.GetValue<string>();

    public static CallToolResult AssertOk(this CallToolResult result)
    {
        Assert.True(result.IsError != true, result.Text());
        return result;
    }

    public static string AssertError(this CallToolResult result)
    {
        Assert.True(result.IsError == true, "expected an error result, got: " + result.Text());
        return result.Text();
    }
}
