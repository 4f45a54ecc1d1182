using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Engine.Tests;

/// <summary>
/// A real engine with real bubblewrap sandboxes and Debian's Python, on a state directory of
/// its own, shared by the tests of the "Engine" collection (which run one at a time: the
/// machine has two cores and each sandbox start is a second of CPU).
/// </summary>
public sealed class EngineFixture : IAsyncLifetime
{
    /// <summary>Set in the test process before the host starts: a sandbox must never see it.</summary>
    public const string CanaryName = "VIVARIUM_TEST_CANARY";

    private IHost? _host;

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-engine-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public string CanaryValue { get; } = "canary-" + Guid.NewGuid().ToString("N");

    public SessionService Sessions => _host!.Services.GetRequiredService<SessionService>();
    public SandboxPool Pool => _host!.Services.GetRequiredService<SandboxPool>();
    public BubblewrapBackend Backend => _host!.Services.GetRequiredService<BubblewrapBackend>();

    /// <summary>The sandbox mode under test: VIVARIUM_TEST_SANDBOX_MODE, else the default.</summary>
    public static string Mode => Environment.GetEnvironmentVariable("VIVARIUM_TEST_SANDBOX_MODE") is { Length: > 0 } mode ? mode : new BubblewrapOptions().Mode;

    public static Dictionary<string, string?> Settings(string stateDirectory) => new()
    {
        ["Vivarium:Sandbox:StateDirectory"] = stateDirectory,
        ["Vivarium:Sandbox:MemoryLimitBytes"] = (768L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Vivarium:Sandbox:MaxProcesses"] = "64",
        ["Vivarium:Pool:Size"] = "2",
        ["Vivarium:Execution:InterruptGrace"] = "00:00:02",
        ["Vivarium:Sessions:ReapInterval"] = "00:00:00.200",
    };

    public async Task InitializeAsync()
    {
        // Before anything is started, so a leak of the server's environment would carry it.
        Environment.SetEnvironmentVariable(CanaryName, CanaryValue);
        var builder = Host.CreateApplicationBuilder();
        var settings = Settings(StateDirectory);
        settings["Vivarium:Sandbox:Mode"] = Mode;
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddVivariumEngine();
        _host = builder.Build();
        await _host.StartAsync();
        await Pool.Initialized;
    }

    /// <summary>A new session for its own tenant, ended when the lease is disposed.</summary>
    public async Task<SessionLease> NewSessionAsync(SessionCreateOptions? options = null)
    {
        var tenant = "tenant-" + Guid.NewGuid().ToString("N")[..8];
        var session = await Sessions.CreateAsync(tenant, options, CancellationToken.None).WaitAsync(TestBounds.SessionCreate);
        return new SessionLease(Sessions, session);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }
        Environment.SetEnvironmentVariable(CanaryName, null);
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Generous upper bounds, so a hang fails one test instead of stalling the run.</summary>
public static class TestBounds
{
    public static readonly TimeSpan SessionCreate = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan Execution = TimeSpan.FromSeconds(60);

    /// <summary>Waits until the condition holds, for at most a minute, then fails with the message.</summary>
    public static async Task PollAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}

/// <summary>A session that ends (sandbox killed, workspace deleted) when disposed.</summary>
public sealed class SessionLease(SessionService sessions, Session session) : IAsyncDisposable
{
    public Session Session => session;

    public Task<Execution> RunAsync(string code, TimeSpan? timeout = null) =>
        session.ExecuteAsync(new ExecuteRequest(code, timeout), CancellationToken.None).WaitAsync(TestBounds.Execution);

    /// <summary>Runs code that must succeed, and returns its stdout.</summary>
    public async Task<string> RunOkAsync(string code)
    {
        var execution = await RunAsync(code);
        Assert.True(execution.Status == ExecutionStatus.Ok, $"expected ok, got {execution.Status}: {execution.Summary}");
        return execution.Stdout;
    }

    public async ValueTask DisposeAsync()
    {
        if (sessions.TryGet(session.TenantId, session.Id) is not null)
        {
            await sessions.DeleteAsync(session.TenantId, session.Id);
        }
    }
}

[CollectionDefinition("Engine")]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>;
