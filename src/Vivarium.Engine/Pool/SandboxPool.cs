using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Vivarium.Sandbox;

namespace Vivarium.Engine.Pool;

/// <summary>
/// Keeps <see cref="PoolOptions.Size"/> sandboxes started, each on its own empty workspace,
/// with the preload list imported, and refills in the background. Taking one costs a channel
/// read; when the pool is empty, sandboxes are started on demand, a few at a time.
/// </summary>
public sealed partial class SandboxPool : BackgroundService
{
    private readonly ISandboxBackend _backend;
    private readonly PoolOptions _options;
    private readonly EngineMetrics _metrics;
    private readonly ILogger<SandboxPool> _logger;
    private readonly TimeProvider _time;
    private readonly Channel<ISandbox> _warm;
    private readonly SemaphoreSlim _starts;
    private readonly TaskCompletionSource _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string? _lastFailure;
    // Sandboxes waiting in _warm, so one that dies there (OOM killer, an operator's kill) can
    // be told from one a session took, and dropped at once instead of when a client takes it.
    private readonly ConcurrentDictionary<ISandbox, byte> _waiting = new();
    private readonly Lock _pruning = new();

    /// <summary>Creates the pool; it starts filling when the host starts.</summary>
    public SandboxPool(ISandboxBackend backend, IOptions<PoolOptions> options, EngineMetrics metrics, ILogger<SandboxPool> logger, TimeProvider time)
    {
        _backend = backend;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        _warm = Channel.CreateBounded<ISandbox>(new BoundedChannelOptions(Math.Max(1, _options.Size)) { FullMode = BoundedChannelFullMode.Wait });
        _starts = new SemaphoreSlim(_options.MaxConcurrentStarts, _options.MaxConcurrentStarts);
    }

    /// <summary>Warm sandboxes waiting now.</summary>
    public int Available => _warm.Reader.Count;

    /// <summary>The configured size.</summary>
    public int TargetSize => _options.Size;

    /// <summary>
    /// True once the backend is initialised and the pool has been warm (or is off), as long as
    /// sandboxes still start. A pool drained by a burst is still ready: it starts sandboxes on
    /// demand, and a load balancer should not drop the server each time it is busy.
    /// </summary>
    public bool IsReady => _initialized.Task.IsCompletedSuccessfully && (_options.Size == 0 || _wasWarm) && _lastFailure is null;

    private volatile bool _wasWarm;

    /// <summary>Why the last start failed, for readiness reports; null after a success.</summary>
    public string? LastFailure => _lastFailure;

    /// <summary>Completes when the backend is initialised (faults if it could not be).</summary>
    public Task Initialized => _initialized.Task;

    /// <summary>A warm sandbox if there is one, else a new one; either way on a fresh workspace.</summary>
    /// <returns>The sandbox, and whether it came from the pool.</returns>
    /// <exception cref="VivariumException">sandbox_unavailable when none could be had in time.</exception>
    public async Task<(ISandbox Sandbox, bool FromPool)> TakeAsync(CancellationToken cancellationToken)
    {
        await _initialized.Task.WaitAsync(cancellationToken);
        while (_warm.Reader.TryRead(out var sandbox))
        {
            _waiting.TryRemove(sandbox, out _);
            if (!sandbox.Exited.IsCompleted)
            {
                return (sandbox, true);
            }
            await DiscardAsync(sandbox);
        }
        return (await StartOnNewWorkspaceAsync(new SandboxLimits(), cancellationToken), false);
    }

    /// <summary>
    /// A sandbox started now, on a fresh workspace, with these limits: a session's when the pool
    /// is empty or the client asked for its own limits. The workspace goes if the start fails.
    /// </summary>
    /// <exception cref="VivariumException">sandbox_unavailable, also when the backend could not make a workspace (a full disk, no free loop device).</exception>
    public async Task<ISandbox> StartOnNewWorkspaceAsync(SandboxLimits limits, CancellationToken cancellationToken)
    {
        SandboxWorkspace workspace;
        try
        {
            workspace = await _backend.CreateWorkspaceAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The host's trouble, not the client's request: a 503 the client may retry, not a 500.
            _lastFailure = e.Message;
            Log.WorkspaceFailed(_logger, e.Message);
            throw new VivariumException(ErrorCodes.SandboxUnavailable, $"no workspace could be created for the sandbox: {e.Message}", e);
        }
        try
        {
            return await StartAsync(workspace, limits, "session", cancellationToken);
        }
        catch
        {
            await _backend.DeleteWorkspaceAsync(workspace, CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// Starts a sandbox on an existing workspace (restart, crash recovery),
    /// sharing the cap on concurrent starts with the pool.
    /// </summary>
    /// <exception cref="VivariumException">sandbox_unavailable.</exception>
    public async Task<ISandbox> StartAsync(SandboxWorkspace workspace, SandboxLimits limits, string purpose, CancellationToken cancellationToken)
    {
        await _initialized.Task.WaitAsync(cancellationToken);
        if (!await _starts.WaitAsync(_options.AcquireTimeout, cancellationToken))
        {
            throw new VivariumException(ErrorCodes.SandboxUnavailable,
                $"no sandbox could be started within {_options.AcquireTimeout.TotalSeconds:0} s: the host is at capacity. Try again shortly.");
        }
        try
        {
            var sandbox = await _backend.StartAsync(workspace, limits, cancellationToken);
            _metrics.SandboxStarted(purpose, true);
            _lastFailure = null;
            return sandbox;
        }
        catch (SandboxStartException e)
        {
            _metrics.SandboxStarted(purpose, false);
            _lastFailure = e.Message;
            Log.StartFailed(_logger, e.Message);
            throw new VivariumException(ErrorCodes.SandboxUnavailable, $"a sandbox could not be started: {e.Message}", e);
        }
        finally
        {
            _starts.Release();
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await _backend.InitializeAsync(stoppingToken);
            _initialized.TrySetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _lastFailure = e.Message;
            Log.BackendFailed(_logger, e.Message);
            _initialized.TrySetException(new VivariumException(ErrorCodes.SandboxUnavailable, $"the sandbox backend could not start: {e.Message}", e));
            return;
        }
        if (_options.Size == 0)
        {
            return;
        }
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Waits here while the pool is full.
            if (!await _warm.Writer.WaitToWriteAsync(stoppingToken))
            {
                return;
            }
            SandboxWorkspace? workspace = null;
            try
            {
                workspace = await _backend.CreateWorkspaceAsync(stoppingToken);
                var sandbox = await StartAsync(workspace, new SandboxLimits(), "pool", stoppingToken);
                _waiting[sandbox] = 0;
                if (_warm.Writer.TryWrite(sandbox))
                {
                    _ = DropWhenDeadAsync(sandbox);
                }
                else
                {
                    _waiting.TryRemove(sandbox, out _);
                    await DiscardAsync(sandbox);
                }
                _wasWarm = true;
                backoff = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                if (workspace is not null)
                {
                    await _backend.DeleteWorkspaceAsync(workspace, CancellationToken.None);
                }
                return;
            }
            catch (Exception e)
            {
                if (workspace is not null)
                {
                    await _backend.DeleteWorkspaceAsync(workspace, CancellationToken.None);
                }
                Log.RefillFailed(_logger, e.Message, backoff.TotalSeconds);
                await Task.Delay(backoff, _time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _warm.Writer.TryComplete();
        while (_warm.Reader.TryRead(out var sandbox))
        {
            _waiting.TryRemove(sandbox, out _);
            await DiscardAsync(sandbox);
        }
    }

    /// <summary>
    /// A warm sandbox that dies while it waits would otherwise stay in the pool until a client
    /// takes it (and pays for an on-demand start), while /readyz counts it and nothing refills.
    /// </summary>
    private async Task DropWhenDeadAsync(ISandbox sandbox)
    {
        var exit = await sandbox.Exited;
        if (!_waiting.ContainsKey(sandbox))
        {
            return; // taken by a session (or discarded at shutdown) before it ended
        }
        Log.WarmSandboxDied(_logger, exit.Reason.ToString(), exit.Detail);
        var dead = new List<ISandbox>();
        lock (_pruning)
        {
            // Channels cannot remove one item: take all, put the live ones back. This frees at
            // least the dead one's slot, so the refill loop's next start finds room.
            var live = new List<ISandbox>();
            while (_warm.Reader.TryRead(out var waiting))
            {
                (waiting.Exited.IsCompleted ? dead : live).Add(waiting);
            }
            foreach (var waiting in live)
            {
                if (!_warm.Writer.TryWrite(waiting))
                {
                    dead.Add(waiting); // shutting down
                }
            }
        }
        foreach (var gone in dead)
        {
            _waiting.TryRemove(gone, out _);
            await DiscardAsync(gone);
        }
    }

    private async Task DiscardAsync(ISandbox sandbox)
    {
        await sandbox.DisposeAsync();
        await _backend.DeleteWorkspaceAsync(sandbox.Workspace, CancellationToken.None);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _starts.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "A sandbox failed to start: {Reason}")]
        public static partial void StartFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Refilling the pool failed ({Reason}); retrying in {Seconds} s")]
        public static partial void RefillFailed(ILogger logger, string reason, double seconds);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "A warm sandbox died in the pool ({Reason}: {Detail}); it is dropped and replaced")]
        public static partial void WarmSandboxDied(ILogger logger, string reason, string detail);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "A workspace could not be created: {Reason}")]
        public static partial void WorkspaceFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Critical, Message = "The sandbox backend could not start: {Reason}")]
        public static partial void BackendFailed(ILogger logger, string reason);
    }
}
