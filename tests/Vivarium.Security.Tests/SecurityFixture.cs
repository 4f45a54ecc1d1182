using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Vivarium.Server;

namespace Vivarium.Security.Tests;

/// <summary>
/// The real server, in this process, on 127.0.0.1 (a free port), with real sandboxes and small
/// limits so that every limit can be hit quickly. The host canaries are planted before the
/// server is built, so the server's environment holds the secret from its first moment.
/// Three tenants: red (the attacker), blue (another customer) and witness (an unrelated session
/// that must keep answering 1+1 after every attack).
/// </summary>
public sealed class SecurityFixture : IAsyncLifetime
{
    public const string KeyRed = "security-key-red";
    public const string KeyBlue = "security-key-blue";
    public const string KeyWitness = "security-key-witness";

    public const long MemoryLimitBytes = 512L * 1024 * 1024;
    public const int MaxProcesses = 64;
    public const long WorkspaceQuotaBytes = 64L * 1024 * 1024;
    public const int WorkspaceInodes = 2048;
    public const long TmpSizeBytes = 64L * 1024 * 1024;
    public const long MaxFileSizeBytes = 32L * 1024 * 1024;
    public const int MaxOpenFiles = 256;

    private WebApplication? _app;

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-security-" + Guid.NewGuid().ToString("N")[..8]);
    public HostCanaries Canaries { get; private set; } = null!;
    public Uri BaseAddress { get; private set; } = null!;
    public int ServerPort => BaseAddress.Port;
    public string WitnessSessionId { get; private set; } = "";
    public string AttackerSessionId { get; private set; } = "";

    /// <summary>What each case did, by its index in the table; the report is built from it.</summary>
    public ConcurrentDictionary<int, CaseOutcome> Outcomes { get; } = new();

    /// <summary>True when the suite runs against fork-server sandboxes, where pid 1 is a fork of the zygote, not bwrap.</summary>
    public static bool ForkServer =>
        (Environment.GetEnvironmentVariable("VIVARIUM_TEST_SANDBOX_MODE") is { Length: > 0 } mode ? mode : new Vivarium.Sandbox.Bubblewrap.BubblewrapOptions().Mode)
        == Vivarium.Sandbox.Bubblewrap.BubblewrapOptions.ForkServerMode;

    /// <summary>The sandbox mode under test: VIVARIUM_TEST_SANDBOX_MODE, else the server's default.</summary>
    public static string[] ModeArguments() =>
        Environment.GetEnvironmentVariable("VIVARIUM_TEST_SANDBOX_MODE") is { Length: > 0 } mode ? [$"--Vivarium:Sandbox:Mode={mode}"] : [];

    public static string[] Arguments(string stateDirectory) =>
    [
        .. ModeArguments(),
        "--urls", "http://127.0.0.1:0",
        $"--Vivarium:Sandbox:StateDirectory={stateDirectory}",
        $"--Vivarium:Sandbox:MemoryLimitBytes={MemoryLimitBytes}",
        $"--Vivarium:Sandbox:MaxProcesses={MaxProcesses}",
        $"--Vivarium:Sandbox:WorkspaceQuotaBytes={WorkspaceQuotaBytes}",
        $"--Vivarium:Sandbox:WorkspaceInodes={WorkspaceInodes}",
        $"--Vivarium:Sandbox:TmpSizeBytes={TmpSizeBytes}",
        $"--Vivarium:Sandbox:MaxFileSizeBytes={MaxFileSizeBytes}",
        $"--Vivarium:Sandbox:MaxOpenFiles={MaxOpenFiles}",
        "--Vivarium:Pool:Size=1",
        "--Vivarium:Execution:InterruptGrace=00:00:02",
        $"--Vivarium:Auth:Keys:0:Key={KeyRed}", "--Vivarium:Auth:Keys:0:Tenant=red",
        $"--Vivarium:Auth:Keys:1:Key={KeyBlue}", "--Vivarium:Auth:Keys:1:Tenant=blue",
        $"--Vivarium:Auth:Keys:2:Key={KeyWitness}", "--Vivarium:Auth:Keys:2:Tenant=witness",
        "--Logging:LogLevel:Default=Warning",
    ];

    public async Task InitializeAsync()
    {
        // The canaries first: the server must start with the secret already in its environment.
        Canaries = new HostCanaries(StateDirectory);
        _app = VivariumServer.Build(Arguments(StateDirectory));
        await _app.StartAsync();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        BaseAddress = new Uri(addresses.First());

        using var anonymous = Client(null);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while ((await anonymous.GetAsync("/readyz")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the server did not become ready");
            }
            await Task.Delay(100);
        }
        using var witness = Client(KeyWitness);
        WitnessSessionId = await CreateSessionAsync(witness);
        using var red = Client(KeyRed);
        AttackerSessionId = await CreateSessionAsync(red);
    }

    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    public static async Task<string> CreateSessionAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/v1/sessions", new { });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"session create: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Canaries?.Dispose();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition("Security")]
public sealed class SecurityCollection : ICollectionFixture<SecurityFixture>;

/// <summary>The result of one case, for the report.</summary>
public sealed record CaseOutcome(SecurityCase Case, bool Held, string Observed, TimeSpan Duration);
