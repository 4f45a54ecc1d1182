using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;

namespace Vivarium.Server.Audit;

/// <summary>
/// Records every finished execution (including those whose sandbox crashed) without slowing
/// it down: <see cref="Record"/> only enqueues; a background writer appends in batches and
/// drains the queue on shutdown. The code itself is never stored or logged, only its hash.
/// </summary>
public sealed partial class AuditLog(IAuditStore store, IOptions<AuditOptions> options, TimeProvider time, ILogger<AuditLog> logger) : BackgroundService, IExecutionAudit
{
    private const int BatchSize = 500;
    private readonly Channel<AuditRecord> _queue = Channel.CreateUnbounded<AuditRecord>();

    /// <summary>The store written to.</summary>
    public IAuditStore Store => store;

    /// <inheritdoc />
    public void Record(Session session, Execution execution, string code)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));
        var status = execution.Status.ToString().ToLowerInvariant();
        _queue.Writer.TryWrite(new AuditRecord(DateTimeOffset.UtcNow, session.TenantId, session.Id, execution.Id, hash, status, execution.DurationMs));
    }

    /// <summary>Writes everything recorded so far before returning.</summary>
    public Task FlushAsync(CancellationToken cancellationToken) => WriteAvailableAsync(cancellationToken);

    private readonly SemaphoreSlim _writing = new(1, 1);

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // A database that cannot be reached at start stops the server: an audit log that
        // silently records nothing is worse than none.
        await store.MigrateAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                // Records wait a moment for those that follow: a transaction per execution,
                // when requests come one at a time, cost the server ~0.1 ms of CPU each
                // (docs/performance.md). Stopping cuts the wait short; StopAsync writes the rest.
                if (options.Value.FlushInterval > TimeSpan.Zero && _queue.Reader.Count < BatchSize)
                {
                    await Task.Delay(options.Value.FlushInterval, time, stoppingToken);
                }
                await WriteAvailableAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _queue.Writer.TryComplete();
        await WriteAvailableAsync(cancellationToken);
    }

    private async Task WriteAvailableAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            var batch = new List<AuditRecord>(BatchSize);
            while (batch.Count < BatchSize && _queue.Reader.TryRead(out var record))
            {
                batch.Add(record);
            }
            if (batch.Count == 0)
            {
                return;
            }
            try
            {
                await store.AppendAsync(batch, CancellationToken.None);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
            {
                Log.WriteFailed(logger, batch.Count, e);
                foreach (var record in batch)
                {
                    _queue.Writer.TryWrite(record); // try again with the next batch
                }
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        finally
        {
            _writing.Release();
        }
        if (_queue.Reader.Count > 0)
        {
            await WriteAvailableAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _writing.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Level = LogLevel.Error, Message = "Writing {Count} audit records failed; they will be retried")]
        public static partial void WriteFailed(ILogger logger, int count, Exception exception);
    }
}
