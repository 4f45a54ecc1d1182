using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
    private IHost? _host;

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-engine-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public SessionService Sessions => _host!.Services.GetRequiredService<SessionService>();
    public SandboxPool Pool => _host!.Services.GetRequiredService<SandboxPool>();
    public BubblewrapBackend Backend => _host!.Services.GetRequiredService<BubblewrapBackend>();

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
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(Settings(StateDirectory));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddVivariumEngine();
        _host = builder.Build();
        await _host.StartAsync();
        await Pool.Initialized;
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
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

[CollectionDefinition("Engine")]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>;
