using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Pool;
using Vivarium.Sandbox;

namespace Vivarium.Engine.Sessions;

/// <summary>What a client may ask for when creating a session; null means the server default.</summary>
public sealed record SessionCreateOptions
{
    /// <summary>Idle time before the session ends.</summary>
    public TimeSpan? IdleTimeout { get; init; }
    /// <summary>Environment variables for the code.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    /// <summary>Lower resource limits than the server's defaults.</summary>
    public SandboxLimits? Limits { get; init; }
    /// <summary>Labels returned as given.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Creates, finds and ends sessions, per tenant, within the configured quotas.</summary>
public sealed partial class SessionService
{
    private static readonly Regex EnvironmentName = CreateEnvironmentNameRegex();
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _quotaLock = new();
    private readonly Dictionary<string, int> _perTenant = new(StringComparer.Ordinal);
    private readonly SessionContext _context;
    private readonly SandboxPool _pool;
    private readonly ILogger<SessionService> _logger;
    private int _total;

    /// <summary>Wires the service; sessions are created on demand.</summary>
    public SessionService(IOptions<SessionOptions> options, IOptions<ExecutionOptions> executionOptions, SandboxPool pool,
        ISandboxBackend backend, TimeProvider time, EngineMetrics metrics, ILogger<SessionService> logger, IExecutionAudit? audit = null)
    {
        _pool = pool;
        _logger = logger;
        _context = new SessionContext(options.Value, executionOptions.Value, pool, backend, time, metrics, logger,
            audit is null ? null : audit.Record);
        metrics.ObserveState(() => _sessions.Count, () => pool.Available, () => pool.TargetSize);
    }

    /// <summary>Live sessions on this server.</summary>
    public int Count => _sessions.Count;

    /// <summary>True when no tenant could create another session (the server-wide limit is reached).</summary>
    public bool IsFull
    {
        get
        {
            lock (_quotaLock)
            {
                return _total >= _context.Options.MaxSessions;
            }
        }
    }

    /// <summary>Creates a session from a warm sandbox (or a new one when the pool is empty or custom limits are asked for).</summary>
    /// <param name="tenantId">The owner.</param>
    /// <param name="options">What the client asked for.</param>
    /// <param name="cancellationToken">Stops waiting for a sandbox.</param>
    /// <param name="tenantSessionLimit">The tenant's own session quota, when its key sets one.</param>
    /// <exception cref="VivariumException">invalid_request, session_limit_reached, sandbox_unavailable.</exception>
    public async Task<Session> CreateAsync(string tenantId, SessionCreateOptions? options, CancellationToken cancellationToken, int? tenantSessionLimit = null)
    {
        var started = Stopwatch.GetTimestamp();
        var settings = Validate(options ?? new SessionCreateOptions());
        Reserve(tenantId, tenantSessionLimit ?? _context.Options.MaxSessionsPerTenant);
        ISandbox? sandbox = null;
        try
        {
            bool fromPool;
            if (settings.Limits == new SandboxLimits())
            {
                (sandbox, fromPool) = await _pool.TakeAsync(cancellationToken);
            }
            else
            {
                sandbox = await _pool.StartOnNewWorkspaceAsync(settings.Limits, cancellationToken);
                fromPool = false;
            }
            await Session.ApplyEnvironmentAsync(sandbox, settings.Environment, cancellationToken);
            var session = new Session(tenantId, settings, sandbox, _context);
            _sessions[session.Id] = session;
            _context.Metrics.SessionCreated(Stopwatch.GetElapsedTime(started), fromPool);
            Log.SessionCreated(_logger, session.Id, tenantId, fromPool);
            return session;
        }
        catch
        {
            Release(tenantId);
            if (sandbox is not null)
            {
                await sandbox.DisposeAsync();
                await _context.Backend.DeleteWorkspaceAsync(sandbox.Workspace, CancellationToken.None);
            }
            throw;
        }
    }

    /// <summary>The tenant's session with this id.</summary>
    /// <exception cref="VivariumException">session_not_found, also when it belongs to another tenant.</exception>
    public Session Get(string tenantId, string sessionId) =>
        TryGet(tenantId, sessionId) ?? throw new VivariumException(ErrorCodes.SessionNotFound, $"no session '{Clip(sessionId)}'");

    /// <summary>The tenant's session with this id, or null.</summary>
    public Session? TryGet(string tenantId, string sessionId) =>
        sessionId is not null && _sessions.TryGetValue(sessionId, out var session) && session.TenantId == tenantId && session.Status != SessionStatus.Ended
            ? session
            : null;

    /// <summary>The tenant's sessions, oldest first.</summary>
    public IReadOnlyList<Session> List(string tenantId) =>
        _sessions.Values.Where(s => s.TenantId == tenantId && s.Status != SessionStatus.Ended).OrderBy(s => s.CreatedAt).ToList();

    /// <summary>Ends a session and deletes its files.</summary>
    /// <exception cref="VivariumException">session_not_found.</exception>
    public async Task DeleteAsync(string tenantId, string sessionId)
    {
        var session = Get(tenantId, sessionId);
        await EndAsync(session, TimeSpan.Zero, "deleted");
    }

    /// <summary>Ends every session whose idle timeout or lifetime has passed.</summary>
    public async Task<int> ReapExpiredAsync()
    {
        var now = _context.Time.GetUtcNow();
        var expired = _sessions.Values.Where(s => s.IsExpired(now)).ToList();
        foreach (var session in expired)
        {
            await EndAsync(session, TimeSpan.Zero, "expired");
        }
        return expired.Count;
    }

    /// <summary>Ends every session, giving running executions up to <paramref name="grace"/> to finish.</summary>
    public async Task EndAllAsync(TimeSpan grace) =>
        await Task.WhenAll(_sessions.Values.ToList().Select(s => EndAsync(s, grace, "shutdown")));

    private async Task EndAsync(Session session, TimeSpan grace, string why)
    {
        if (!_sessions.TryRemove(session.Id, out _))
        {
            return;
        }
        try
        {
            await session.EndAsync(grace);
        }
        finally
        {
            Release(session.TenantId);
            Log.SessionEnded(_logger, session.Id, why);
        }
    }

    private void Reserve(string tenantId, int tenantLimit)
    {
        lock (_quotaLock)
        {
            var options = _context.Options;
            if (_total >= options.MaxSessions)
            {
                throw new VivariumException(ErrorCodes.SessionLimitReached, $"the server is at its limit of {options.MaxSessions} sessions; end one or try later");
            }
            _perTenant.TryGetValue(tenantId, out int mine);
            if (mine >= tenantLimit)
            {
                throw new VivariumException(ErrorCodes.SessionLimitReached, $"you have {mine} sessions, the limit; end one first");
            }
            _perTenant[tenantId] = mine + 1;
            _total++;
        }
    }

    private void Release(string tenantId)
    {
        lock (_quotaLock)
        {
            _total--;
            if (_perTenant.TryGetValue(tenantId, out int mine))
            {
                if (mine <= 1)
                {
                    _perTenant.Remove(tenantId);
                }
                else
                {
                    _perTenant[tenantId] = mine - 1;
                }
            }
        }
    }

    private SessionSettings Validate(SessionCreateOptions options)
    {
        var o = _context.Options;
        var idle = options.IdleTimeout ?? o.IdleTimeout;
        ValidateIdleTimeout(idle, o);
        var env = options.Environment ?? new Dictionary<string, string>();
        if (env.Count > 64)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, "env may hold at most 64 variables");
        }
        foreach (var (name, value) in env)
        {
            if (!EnvironmentName.IsMatch(name))
            {
                throw new VivariumException(ErrorCodes.InvalidRequest, $"env name '{Clip(name)}' must match [A-Za-z_][A-Za-z0-9_]* (at most 128 characters)");
            }
            if (value is null || value.Length > 32_768 || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new VivariumException(ErrorCodes.InvalidRequest, $"env value of '{name}' must be a string of at most 32768 characters without NUL");
            }
        }
        var metadata = options.Metadata ?? new Dictionary<string, string>();
        if (metadata.Count > 32 || metadata.Any(m => m.Key.Length is 0 or > 64 || m.Value is null || m.Value.Length > 512))
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, "metadata may hold at most 32 entries, keys of 1–64 and values of at most 512 characters");
        }
        var limits = options.Limits ?? new SandboxLimits();
        var most = _context.Backend.DefaultLimits;
        CheckLimit("memory_bytes", limits.MemoryBytes, most.MemoryBytes, 64.0 * 1024 * 1024);
        CheckLimit("max_processes", limits.MaxProcesses, most.MaxProcesses, 16);
        CheckLimit("cpu_cores", limits.CpuCores, most.CpuCores, 0.05);
        return new SessionSettings(idle, env, limits, metadata);
    }

    /// <summary>A client may lower a limit, never raise it: the defaults are what the operator sized the host for.</summary>
    private static void CheckLimit(string name, double? requested, double? most, double least)
    {
        if (requested is { } value && (value < least || (most is { } max && value > max)))
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, $"limits.{name} must be between {least} and {most} (the server's default)");
        }
    }

    internal static void ValidateIdleTimeout(TimeSpan idle, SessionOptions options)
    {
        if (idle <= TimeSpan.Zero || idle > options.MaxIdleTimeout)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, $"idle_timeout_seconds must be greater than 0 and at most {options.MaxIdleTimeout.TotalSeconds:0}");
        }
    }

    private static string Clip(string? text) => text is null ? "" : text.Length <= 80 ? text : text[..80];

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex CreateEnvironmentNameRegex();

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Session {SessionId} created for tenant {TenantId} (from pool: {FromPool})")]
        public static partial void SessionCreated(ILogger logger, string sessionId, string tenantId, bool fromPool);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Session {SessionId} ended ({Why})")]
        public static partial void SessionEnded(ILogger logger, string sessionId, string why);
    }
}

/// <summary>Receives every finished execution (the server writes them to its audit log). Must not throw.</summary>
public interface IExecutionAudit
{
    /// <summary>Records one execution; <paramref name="code"/> is given for hashing, never to be logged.</summary>
    void Record(Session session, Execution execution, string code);
}
