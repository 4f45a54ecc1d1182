using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Files;
using Vivarium.Engine.Output;
using Vivarium.Engine.Pool;
using Vivarium.Sandbox;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Engine.Sessions;

/// <summary>What a session is doing.</summary>
public enum SessionStatus
{
    /// <summary>Waiting for code.</summary>
    Ready,
    /// <summary>Running an execution.</summary>
    Busy,
    /// <summary>Ended; its sandbox and files are gone.</summary>
    Ended,
}

/// <summary>
/// One tenant's stateful Python: a workspace that lives as long as the session, and a sandbox
/// on it that may be replaced (restart, crash) without losing the files. Runs one execution
/// at a time.
/// </summary>
public sealed partial class Session
{
    private readonly SessionContext _context;
    private readonly SemaphoreSlim _turn = new(1, 1);        // one execution at a time
    private readonly SemaphoreSlim _sandboxLock = new(1, 1); // guards replacing the sandbox
    private ISandbox? _sandbox;
    private RunningExecution? _running;
    private long _lastActivityTicks;
    private volatile bool _ended;

    internal Session(string tenantId, SessionSettings settings, ISandbox sandbox, SessionContext context)
    {
        Id = "ses_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        TenantId = tenantId;
        Settings = settings;
        Workspace = sandbox.Workspace;
        _sandbox = sandbox;
        _context = context;
        CreatedAt = context.Time.GetUtcNow();
        _lastActivityTicks = CreatedAt.UtcTicks;
    }

    /// <summary>Unguessable id, <c>ses_…</c>.</summary>
    public string Id { get; }

    /// <summary>The tenant that owns it; no other tenant can see it.</summary>
    public string TenantId { get; }

    /// <summary>What it was created with (the idle timeout may have been changed since, see <see cref="SetIdleTimeout"/>).</summary>
    public SessionSettings Settings { get; private set; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>Last time it was used.</summary>
    public DateTimeOffset LastActivityAt => new(Interlocked.Read(ref _lastActivityTicks), TimeSpan.Zero);

    /// <summary>When it will end if nothing happens: idle timeout or maximum lifetime, whichever is first.</summary>
    public DateTimeOffset ExpiresAt
    {
        get
        {
            var idle = LastActivityAt + Settings.IdleTimeout;
            var lifetime = CreatedAt + _context.Options.MaxLifetime;
            return idle < lifetime ? idle : lifetime;
        }
    }

    /// <summary>Ready, busy or ended.</summary>
    public SessionStatus Status => _ended ? SessionStatus.Ended : _running is not null ? SessionStatus.Busy : SessionStatus.Ready;

    /// <summary>Executions so far.</summary>
    public int ExecutionCount { get; private set; }

    /// <summary>Python version and packages of the current sandbox.</summary>
    public ReadyMessage? Interpreter => _sandbox?.Info;

    internal SandboxWorkspace Workspace { get; }

    // File requests and restarts being served. A session serving one is not idle, however
    // long it takes (a replacement sandbox starting on a busy host, a large file).
    private int _requestsInFlight;

    internal bool IsExpired(DateTimeOffset now) => now >= ExpiresAt && _running is null && Volatile.Read(ref _requestsInFlight) == 0;

    /// <summary>
    /// Changes the idle timeout and counts as activity, so the session lives at least that long
    /// from now (still bounded by the maximum lifetime). Clients that manage a sandbox's life
    /// from outside (E2B's <c>setTimeout</c>) need to move the deadline after creation.
    /// </summary>
    /// <exception cref="VivariumException">session_not_found when ended; invalid_request when out of range.</exception>
    public void SetIdleTimeout(TimeSpan idleTimeout)
    {
        ThrowIfEnded();
        SessionService.ValidateIdleTimeout(idleTimeout, _context.Options);
        Settings = Settings with { IdleTimeout = idleTimeout };
        Touch();
    }

    // ------------------------------------------------------------------------------------
    // Executions
    // ------------------------------------------------------------------------------------

    /// <summary>
    /// Starts running code. Validation and the one-at-a-time check happen here, before
    /// anything is streamed, so a server can still answer with an error status.
    /// </summary>
    /// <param name="request">The code and an optional timeout.</param>
    /// <param name="cancellationToken">Cancelling it (the client went away) interrupts the code.</param>
    /// <exception cref="VivariumException">invalid_request, payload_too_large or session_busy.</exception>
    public RunningExecution Start(ExecuteRequest request, CancellationToken cancellationToken)
    {
        ThrowIfEnded();
        var options = _context.ExecutionOptions;
        if (request.Code is null)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, "'code' is required");
        }
        if (request.Code.Length > options.MaxCodeChars)
        {
            throw new VivariumException(ErrorCodes.PayloadTooLarge, $"the code is {request.Code.Length} characters; the limit is {options.MaxCodeChars}");
        }
        var timeout = request.Timeout ?? options.DefaultTimeout;
        if (timeout <= TimeSpan.Zero || timeout > options.MaxTimeout)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, $"timeout_seconds must be greater than 0 and at most {options.MaxTimeout.TotalSeconds:0}");
        }
        if (!_turn.Wait(0, CancellationToken.None))
        {
            throw new VivariumException(ErrorCodes.SessionBusy, $"session {Id} is running another execution; wait for it, or interrupt it");
        }
        var running = new RunningExecution("exe_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        _running = running;
        Touch();
        _ = Task.Run(() => RunAsync(running, request.Code, timeout, cancellationToken), CancellationToken.None);
        return running;
    }

    /// <summary>Runs code and returns the whole execution.</summary>
    public Task<Execution> ExecuteAsync(ExecuteRequest request, CancellationToken cancellationToken) =>
        Start(request, cancellationToken).Completion;

    /// <summary>Interrupts the running execution (KeyboardInterrupt; the state is kept). False when nothing runs.</summary>
    public bool Interrupt()
    {
        Touch();
        return _running?.RequestStop(StopReason.Interrupted) ?? false;
    }

    //  The pipeline of one execution:
    //   (1) a live sandbox (a dead one is replaced on the same workspace)
    //   (2) send the code; arm the timeout
    //   (3) fold the runner's messages into the collector, streaming what may be streamed
    //   (4) on timeout, interrupt or client loss: interrupt, then kill after the grace period
    //   (5) classify the outcome, once, and build the Execution
    private async Task RunAsync(RunningExecution running, string code, TimeSpan timeout, CancellationToken clientToken)
    {
        var collector = new OutputCollector(_context.ExecutionOptions);
        Execution? result = null;
        Exception? failure = null;
        try
        {
            // :: Step 1
            var sandbox = await EnsureSandboxAsync(CancellationToken.None);

            // :: Step 2
            running.Arm(sandbox, _context.ExecutionOptions.InterruptGrace, _context.Time);
            running.MarkStarted();
            using var timer = _context.Time.CreateTimer(_ => running.RequestStop(StopReason.Timeout), null, timeout, Timeout.InfiniteTimeSpan);
            using var clientGone = clientToken.Register(() => running.RequestStop(StopReason.ClientGone));
            var started = Stopwatch.GetTimestamp();

            // :: Step 3
            RunnerChannelClosed? lost = null;
            try
            {
                await foreach (var message in sandbox.Runner.ExecuteAsync(running.Id, code, CancellationToken.None))
                {
                    if (collector.Add(message) is { } live)
                    {
                        running.Publish(live);
                    }
                }
            }
            catch (RunnerLostException e)
            {
                lost = e.Closed;
            }
            running.MarkFinished();
            var duration = Stopwatch.GetElapsedTime(started);

            // :: Step 5
            ExecutionStatus status;
            ExecutionError? crash = null;
            if (lost is not null)
            {
                var exit = await sandbox.Exited.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None)
                    .ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : new SandboxExit(SandboxExitReason.RunnerExited, lost.Detail), TaskScheduler.Default);
                status = ExecutionStatus.Crashed;
                crash = new ExecutionError(exit.Reason == SandboxExitReason.OutOfMemory ? "OutOfMemory" : "SandboxCrashed", exit.Detail, "");
                await ReplaceDeadSandboxAsync(sandbox);
            }
            else if (collector.Reply?.Status == "ok")
            {
                status = ExecutionStatus.Ok;
            }
            else
            {
                status = running.StopReason switch
                {
                    StopReason.Timeout => ExecutionStatus.Timeout,
                    StopReason.Interrupted or StopReason.ClientGone => ExecutionStatus.Interrupted,
                    _ => ExecutionStatus.Error,
                };
            }
            var execution = collector.Build(running.Id, Id, status, duration.TotalMilliseconds, crash, timeout);
            ExecutionCount++;
            _context.Metrics.ExecutionFinished(status, duration);
            _context.Audit?.Invoke(this, execution, code);
            result = execution;
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            _running = null;
            Touch();
            _turn.Release();
        }
        // Only after the turn is released: whoever sees "done" may send the next code at once.
        if (result is not null)
        {
            running.Publish(new ExecutionCompleted(result));
        }
        running.Complete(result, failure);
    }

    // ------------------------------------------------------------------------------------
    // Sandbox lifecycle
    // ------------------------------------------------------------------------------------

    /// <summary>A fresh interpreter on the same workspace: variables go, files stay.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        ThrowIfEnded();
        BeginRequest();
        try
        {
            await _sandboxLock.WaitAsync(cancellationToken);
            try
            {
                if (_sandbox is { } old)
                {
                    _sandbox = null;
                    await old.DisposeAsync();
                }
                _sandbox = await StartSandboxAsync(cancellationToken);
            }
            finally
            {
                _sandboxLock.Release();
            }
        }
        finally
        {
            EndRequest();
        }
    }

    private void BeginRequest()
    {
        Interlocked.Increment(ref _requestsInFlight);
        Touch();
    }

    // The idle timeout counts from the end of a request, not from its start.
    private void EndRequest()
    {
        Touch();
        Interlocked.Decrement(ref _requestsInFlight);
    }

    private async Task<ISandbox> EnsureSandboxAsync(CancellationToken cancellationToken)
    {
        var current = _sandbox;
        if (current is not null && !current.Exited.IsCompleted)
        {
            return current;
        }
        await _sandboxLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfEnded();
            if (_sandbox is { } sandbox && !sandbox.Exited.IsCompleted)
            {
                return sandbox;
            }
            if (_sandbox is { } dead)
            {
                _sandbox = null;
                await dead.DisposeAsync();
            }
            _sandbox = await StartSandboxAsync(cancellationToken);
            return _sandbox;
        }
        finally
        {
            _sandboxLock.Release();
        }
    }

    private async Task ReplaceDeadSandboxAsync(ISandbox dead)
    {
        Log.SandboxLost(_context.Logger, Id, dead.Exited.IsCompleted ? dead.Exited.Result.Reason : SandboxExitReason.RunnerExited);
        // Start the replacement now, so the next execution does not wait for it.
        _ = Task.Run(async () =>
        {
            try
            {
                await EnsureSandboxAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is VivariumException or ObjectDisposedException)
            {
                // The next execution will try again and report it.
            }
        });
        await Task.CompletedTask;
    }

    private async Task<ISandbox> StartSandboxAsync(CancellationToken cancellationToken)
    {
        var sandbox = await _context.Pool.StartAsync(Workspace, Settings.Limits, "restart", cancellationToken);
        await ApplyEnvironmentAsync(sandbox, Settings.Environment, cancellationToken);
        return sandbox;
    }

    internal static async Task ApplyEnvironmentAsync(ISandbox sandbox, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        if (environment.Count == 0)
        {
            return;
        }
        var reply = await sandbox.Runner.RequestAsync("set_env", writer =>
        {
            writer.WriteStartObject("env");
            foreach (var (name, value) in environment)
            {
                writer.WriteString(name, value);
            }
            writer.WriteEndObject();
        }, cancellationToken);
        if (!reply.Ok)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, $"the environment could not be set: {reply.Message}");
        }
    }

    /// <summary>Ends the session: stops any execution, kills the sandbox, deletes the workspace.</summary>
    /// <param name="grace">How long a running execution may take to finish first (graceful shutdown).</param>
    internal async Task EndAsync(TimeSpan grace)
    {
        if (_ended)
        {
            return;
        }
        if (_running is { } running && grace > TimeSpan.Zero)
        {
            await ((Task)running.Completion).WaitAsync(grace).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _ended = true;
        await _sandboxLock.WaitAsync(CancellationToken.None);
        try
        {
            if (_sandbox is { } sandbox)
            {
                _sandbox = null;
                await sandbox.DisposeAsync();
            }
        }
        finally
        {
            _sandboxLock.Release();
        }
        if (_running is { } stillRunning)
        {
            await ((Task)stillRunning.Completion).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        await _context.Backend.DeleteWorkspaceAsync(Workspace, CancellationToken.None);
    }

    private void ThrowIfEnded()
    {
        if (_ended)
        {
            throw new VivariumException(ErrorCodes.SessionNotFound, $"session {Id} has ended");
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivityTicks, _context.Time.GetUtcNow().UtcTicks);

    // ------------------------------------------------------------------------------------
    // Files (served by the runner inside the sandbox, concurrently with executions)
    // ------------------------------------------------------------------------------------

    /// <summary>Writes a file, creating directories; replaces atomically, so a reader never sees half a file.</summary>
    /// <exception cref="VivariumException">invalid_path, payload_too_large.</exception>
    public async Task<WorkspaceFile> WriteFileAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var relative = WorkspacePath.Normalize(path);
        var reply = await FileRequestAsync("write_file", writer =>
        {
            writer.WriteString("path", relative);
            writer.WriteBase64String("data", content.Span);
        }, cancellationToken);
        return new WorkspaceFile(reply.GetProperty("path").GetString()!, reply.GetProperty("size").GetInt64(), _context.Time.GetUtcNow());
    }

    /// <summary>Reads a whole file.</summary>
    /// <exception cref="VivariumException">invalid_path, file_not_found, payload_too_large.</exception>
    public async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        var relative = WorkspacePath.Normalize(path);
        var reply = await FileRequestAsync("read_file", writer => writer.WriteString("path", relative), cancellationToken);
        return reply.GetProperty("data").GetBytesFromBase64();
    }

    /// <summary>Every regular file in the workspace, recursively, sorted by path.</summary>
    public async Task<IReadOnlyList<WorkspaceFile>> ListFilesAsync(CancellationToken cancellationToken)
    {
        var reply = await FileRequestAsync("list_files", null, cancellationToken);
        var files = new List<WorkspaceFile>();
        foreach (var file in reply.GetProperty("files").EnumerateArray())
        {
            var modified = file.TryGetProperty("modified_ns", out var ns) && ns.TryGetInt64(out long nanos)
                ? DateTimeOffset.UnixEpoch.AddTicks(nanos / 100)
                : (DateTimeOffset?)null;
            files.Add(new WorkspaceFile(file.GetProperty("path").GetString()!, file.GetProperty("size").GetInt64(), modified));
        }
        return files;
    }

    /// <summary>Deletes a file.</summary>
    /// <exception cref="VivariumException">invalid_path, file_not_found.</exception>
    public async Task DeleteFileAsync(string path, CancellationToken cancellationToken)
    {
        var relative = WorkspacePath.Normalize(path);
        await FileRequestAsync("delete_file", writer => writer.WriteString("path", relative), cancellationToken);
    }

    private async Task<JsonElement> FileRequestAsync(string type, Action<Utf8JsonWriter>? fields, CancellationToken cancellationToken)
    {
        ThrowIfEnded();
        BeginRequest();
        try
        {
            return await ServeFileRequestAsync(type, fields, cancellationToken);
        }
        finally
        {
            EndRequest();
        }
    }

    private async Task<JsonElement> ServeFileRequestAsync(string type, Action<Utf8JsonWriter>? fields, CancellationToken cancellationToken)
    {
        var sandbox = await EnsureSandboxAsync(cancellationToken);
        ReplyMessage reply;
        try
        {
            reply = await sandbox.Runner.RequestAsync(type, fields, cancellationToken);
        }
        catch (RunnerLostException e)
        {
            throw new VivariumException(ErrorCodes.SandboxUnavailable, $"the sandbox went away during the file operation ({e.Message}); try again", e);
        }
        if (!reply.Ok)
        {
            var code = reply.Code switch
            {
                ErrorCodes.InvalidPath or ErrorCodes.FileNotFound or ErrorCodes.PayloadTooLarge => reply.Code,
                _ => ErrorCodes.InvalidRequest,
            };
            throw new VivariumException(code, reply.Message ?? "the file operation failed");
        }
        return reply.Body;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Session {SessionId} lost its sandbox ({Reason}); starting a fresh interpreter on the same workspace")]
        public static partial void SandboxLost(ILogger logger, string sessionId, SandboxExitReason reason);
    }
}

/// <summary>Why an execution was asked to stop. The first reason wins.</summary>
internal enum StopReason
{
    None,
    Timeout,
    Interrupted,
    ClientGone,
}

/// <summary>
/// An execution in flight: its live events, its final result, and the interrupt-then-kill
/// sequence that makes sure it ends.
/// </summary>
public sealed class RunningExecution
{
    private readonly Channel<ExecutionEvent> _events = Channel.CreateUnbounded<ExecutionEvent>(new() { SingleReader = true });
    private readonly CancellationTokenSource _finished = new();
    private ISandbox? _sandbox;
    private TimeSpan _grace;
    private TimeProvider _time = TimeProvider.System;
    private int _stopReason;

    internal RunningExecution(string id)
    {
        Id = id;
    }

    /// <summary>The execution's id, known before it finishes.</summary>
    public string Id { get; }

    private readonly TaskCompletionSource<Execution> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The whole execution, when it is done.</summary>
    public Task<Execution> Completion => _completion.Task;

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes when the code has a live sandbox and is about to be sent, or fails with what
    /// prevented that (sandbox_unavailable when no sandbox could be started). A server awaits it
    /// before it commits to a stream, so such a refusal is still an error status.
    /// </summary>
    public Task Started => _started.Task;

    internal void MarkStarted() => _started.TrySetResult();

    internal StopReason StopReason => (StopReason)Volatile.Read(ref _stopReason);

    /// <summary>
    /// Outputs as they happen, then <see cref="ExecutionCompleted"/>. Read it once. If the
    /// reader stops early, the execution is interrupted, as when a client disconnects.
    /// </summary>
    public async IAsyncEnumerable<ExecutionEvent> ReadEventsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        bool completed = false;
        try
        {
            await foreach (var item in _events.Reader.ReadAllAsync(cancellationToken))
            {
                completed = item is ExecutionCompleted;
                yield return item;
            }
        }
        finally
        {
            if (!completed)
            {
                RequestStop(StopReason.ClientGone);
            }
        }
    }

    internal void Arm(ISandbox sandbox, TimeSpan grace, TimeProvider time)
    {
        _grace = grace;
        _time = time;
        _sandbox = sandbox;
        if (StopReason != StopReason.None)
        {
            _ = InterruptThenKillAsync(sandbox); // asked to stop before the code was sent
        }
    }

    internal bool RequestStop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None) != (int)StopReason.None)
        {
            return false;
        }
        if (_sandbox is { } sandbox)
        {
            _ = InterruptThenKillAsync(sandbox);
        }
        return true;
    }

    private async Task InterruptThenKillAsync(ISandbox sandbox)
    {
        try
        {
            await sandbox.Runner.InterruptAsync(Id, CancellationToken.None);
            await Task.Delay(_grace, _time, _finished.Token);
        }
        catch (OperationCanceledException)
        {
            return; // it stopped in time
        }
        catch (Exception e) when (e is RunnerLostException or IOException or ObjectDisposedException)
        {
            // The channel is gone; the kill below makes sure the process is too.
        }
        if (!_finished.IsCancellationRequested)
        {
            // It ignored the interrupt (a C loop, a handler that swallows it): the state goes.
            await sandbox.KillAsync(SandboxExitReason.KilledAfterTimeout);
        }
    }

    internal void Publish(ExecutionEvent item) => _events.Writer.TryWrite(item);

    internal void MarkFinished() => _finished.Cancel();

    internal void Complete(Execution? execution, Exception? error)
    {
        if (_started.TrySetException(error ?? new InvalidOperationException("the execution ended before it started")))
        {
            _ = _started.Task.Exception; // observed: Completion carries the same failure to whoever waits
        }
        _finished.Cancel();
        _events.Writer.TryComplete(error);
        if (execution is not null)
        {
            _completion.TrySetResult(execution);
        }
        else
        {
            _completion.TrySetException(error ?? new InvalidOperationException("the execution ended without a result"));
        }
    }
}

/// <summary>What a session is created with.</summary>
/// <param name="IdleTimeout">Idle time before it ends.</param>
/// <param name="Environment">Extra environment variables for the code.</param>
/// <param name="Limits">Resource limits (at most the server's defaults).</param>
/// <param name="Metadata">Free-form labels from the client, returned as given.</param>
public sealed record SessionSettings(
    TimeSpan IdleTimeout,
    IReadOnlyDictionary<string, string> Environment,
    SandboxLimits Limits,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>What sessions share: options, the pool, the backend, time, metrics.</summary>
internal sealed record SessionContext(
    SessionOptions Options,
    ExecutionOptions ExecutionOptions,
    SandboxPool Pool,
    ISandboxBackend Backend,
    TimeProvider Time,
    EngineMetrics Metrics,
    ILogger Logger,
    Action<Session, Execution, string>? Audit);
