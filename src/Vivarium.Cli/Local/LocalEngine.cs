using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vivarium.Engine;
using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;

namespace Vivarium.Cli.Local;

/// <summary>
/// An engine inside this process for <c>run</c> and <c>repl</c>: real bubblewrap sandboxes, no
/// warm pool (one session needs one sandbox), and a state directory of its own under /tmp,
/// so it never clashes with a server running on the same machine. Disposing it ends the
/// session's sandbox and deletes the directory.
/// </summary>
internal sealed class LocalEngine : IAsyncDisposable
{
    /// <summary>The tenant every local session belongs to.</summary>
    public const string Tenant = "local";

    private readonly IHost _host;

    private LocalEngine(IHost host, string stateDirectory)
    {
        _host = host;
        StateDirectory = stateDirectory;
    }

    /// <summary>This engine's private state directory (workspaces, runner, font cache).</summary>
    public string StateDirectory { get; }

    /// <summary>The engine's services (sessions, options, backend), for surfaces built on it such as MCP.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>The session service of this engine.</summary>
    public SessionService Sessions => _host.Services.GetRequiredService<SessionService>();

    /// <summary>Starts an engine whose executions may run for up to <paramref name="maxTimeout"/>.</summary>
    /// <param name="maxTimeout">The longest timeout a caller will ask for.</param>
    /// <param name="diagnostics">Where the engine's warnings go (never stdout, which belongs to the code).</param>
    /// <param name="cancellationToken">Stops waiting for the start.</param>
    public static async Task<LocalEngine> StartAsync(TimeSpan maxTimeout, TextWriter diagnostics, CancellationToken cancellationToken)
    {
        // Under /tmp (never $TMPDIR, which may sit in a home the sandbox users cannot enter).
        var stateDirectory = Path.Combine("/tmp", "vivarium-cli-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
        Directory.CreateDirectory(stateDirectory);
        // The sandboxes run as unprivileged uids and must be able to reach their workspaces.
        File.SetUnixFileMode(stateDirectory,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        // The same environment variables a server reads (Vivarium__Sandbox__MemoryLimitBytes=…),
        // then what makes this engine a private, pool-less one.
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Vivarium:Sandbox:StateDirectory"] = stateDirectory,
            ["Vivarium:Pool:Size"] = "0",
            ["Vivarium:Execution:MaxTimeout"] = Max(maxTimeout, new ExecutionOptions().MaxTimeout).ToString("c", CultureInfo.InvariantCulture),
        });
        builder.Logging.AddProvider(new DiagnosticsLoggerProvider(diagnostics, LogLevel.Warning));
        // The pool's failures reach the caller as exceptions, and a lost sandbox is reported
        // with the execution: the commands print both.
        builder.Logging.AddFilter<DiagnosticsLoggerProvider>(typeof(SandboxPool).FullName, LogLevel.None);
        builder.Logging.AddFilter<DiagnosticsLoggerProvider>(typeof(SessionService).FullName, LogLevel.Error);
        builder.Services.AddVivariumEngine();
        // Ctrl+C belongs to the commands (it interrupts the code), not to the host, whose
        // default lifetime would stop the engine under the REPL's feet.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        var host = builder.Build();
        var engine = new LocalEngine(host, stateDirectory);
        try
        {
            await host.StartAsync(cancellationToken);
            await host.Services.GetRequiredService<SandboxPool>().Initialized.WaitAsync(cancellationToken);
            return engine;
        }
        catch
        {
            await engine.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates the one session this engine is for.</summary>
    public Task<Session> CreateSessionAsync(CancellationToken cancellationToken) =>
        Sessions.CreateAsync(Tenant, new SessionCreateOptions { IdleTimeout = new SessionOptions().MaxIdleTimeout }, cancellationToken);

    /// <summary>Ends every session, stops the engine and deletes its state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Sessions.EndAllAsync(TimeSpan.Zero);
            await _host.StopAsync(CancellationToken.None);
        }
        finally
        {
            _host.Dispose();
            DeleteStateDirectory();
        }
    }

    private void DeleteStateDirectory()
    {
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next boot's /tmp cleaning; nothing in it is secret or large.
        }
    }

    /// <summary>A host lifetime that leaves the process's signals alone.</summary>
    private sealed class EmbeddedHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
