using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Mcp;

/// <summary>The limits a model should know before it writes code, read from the engine's configuration.</summary>
/// <param name="MemoryBytes">Memory per sandbox.</param>
/// <param name="CpuCores">CPU share per sandbox.</param>
/// <param name="DiskBytes">Workspace quota.</param>
/// <param name="DefaultTimeout">Timeout when a call names none.</param>
/// <param name="MaxTimeout">The longest timeout a call may ask for.</param>
/// <param name="IdleTimeout">A session unused this long ends.</param>
internal sealed record SandboxFacts(long? MemoryBytes, double? CpuCores, long? DiskBytes, TimeSpan DefaultTimeout, TimeSpan MaxTimeout, TimeSpan IdleTimeout)
{
    public static SandboxFacts From(IServiceProvider services)
    {
        var limits = services.GetRequiredService<ISandboxBackend>().DefaultLimits;
        var execution = services.GetRequiredService<IOptions<ExecutionOptions>>().Value;
        var sessions = services.GetRequiredService<IOptions<SessionOptions>>().Value;
        var disk = services.GetService<IOptions<BubblewrapOptions>>()?.Value.WorkspaceQuotaBytes;
        return new SandboxFacts(limits.MemoryBytes, limits.CpuCores, disk, execution.DefaultTimeout, execution.MaxTimeout, sessions.IdleTimeout);
    }

    /// <summary>"512 MiB", "2 GiB": sizes as a model reads them.</summary>
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => $"{bytes >> 30} GiB",
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.#} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        _ => $"{bytes} bytes",
    };

    /// <summary>"30 s", "10 min", "24 h".</summary>
    public static string Duration(TimeSpan time) => time switch
    {
        { TotalHours: >= 1 } when time.TotalHours % 1 == 0 => string.Create(CultureInfo.InvariantCulture, $"{time.TotalHours:0} h"),
        { TotalMinutes: >= 1 } when time.TotalMinutes % 1 == 0 => string.Create(CultureInfo.InvariantCulture, $"{time.TotalMinutes:0} min"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.###} s"),
    };
}

/// <summary>
/// What every MCP connection shares: the engine, the MCP options, the facts the tool
/// descriptions state, and a logger. Built once per host.
/// </summary>
internal sealed class McpSurface
{
    public McpSurface(SessionService sessions, McpOptions options, SandboxFacts facts, ILoggerFactory? loggers = null)
    {
        Sessions = sessions;
        Options = options;
        Facts = facts;
        Logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Vivarium.Mcp");
    }

    /// <summary>From a host's services (the server's or the CLI's in-process engine).</summary>
    public static McpSurface From(IServiceProvider services, McpOptions? options = null) => new(
        services.GetRequiredService<SessionService>(),
        options ?? services.GetService<IOptions<McpOptions>>()?.Value ?? new McpOptions(),
        SandboxFacts.From(services),
        services.GetService<ILoggerFactory>());

    public SessionService Sessions { get; }

    public McpOptions Options { get; }

    public SandboxFacts Facts { get; }

    public ILogger Logger { get; }
}
