using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Vivarium.Engine.Sessions;

/// <summary>
/// Ends sessions past their idle timeout or lifetime, and on shutdown ends them all after
/// giving running executions until the host's shutdown deadline.
/// </summary>
public sealed class SessionReaper(SessionService sessions, IOptions<SessionOptions> options, TimeProvider time) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
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
        // Running executions get until a little before the host's own deadline.
        await sessions.EndAllAsync(TimeSpan.FromSeconds(10)).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await sessions.EndAllAsync(TimeSpan.Zero);
    }
}
