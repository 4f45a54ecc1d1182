using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Vivarium.Engine.Sessions;

/// <summary>
/// Ends sessions past their idle timeout or lifetime. On shutdown it gives running executions
/// <see cref="SessionOptions.ShutdownGrace"/> to finish, then ends every session, so the
/// server stops with no sandbox left behind.
/// </summary>
public sealed class SessionReaper(SessionService sessions, IOptions<SessionOptions> options, TimeProvider time, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    private Task _endAll = Task.CompletedTask;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Starts when shutdown starts, not when this service is stopped: the web server stops
        // first and waits for running requests, which only finish once their executions do.
        using var stopping = lifetime.ApplicationStopping.Register(() => _endAll = Task.Run(() => sessions.EndAllAsync(options.Value.ShutdownGrace)));
        using var timer = new PeriodicTimer(options.Value.ReapInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await sessions.ReapExpiredAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _endAll.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await sessions.EndAllAsync(TimeSpan.Zero);
    }
}
