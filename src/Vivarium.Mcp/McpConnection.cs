using Vivarium.Engine;
using Vivarium.Engine.Sessions;
using Vivarium.Mcp.Tools;

namespace Vivarium.Mcp;

/// <summary>Which session a tool call works in, and how it came to be.</summary>
/// <param name="Session">The session.</param>
/// <param name="Started">True when this call started it (the state is fresh).</param>
/// <param name="Replaced">True when it replaced this connection's earlier session, which had ended.</param>
internal sealed record SessionChoice(Session Session, bool Started, bool Replaced);

/// <summary>
/// One MCP connection's view of the engine: the caller's tenant and the Python session the
/// connection uses, started on first use. An MCP session over HTTP and a stdio process each
/// have one; so does each request of a client without HTTP sessions. A tool may instead name
/// any live session of the same tenant with <c>session_id</c>.
/// </summary>
internal sealed class McpConnection : IAsyncDisposable
{
    private readonly SessionService _sessions;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Session? _own;
    private bool _closed;

    /// <param name="sessions">The engine's sessions.</param>
    /// <param name="caller">The tenant everything is done for.</param>
    /// <param name="endsWithConnection">
    /// True when the connection's own session ends with the connection (an MCP session, a stdio
    /// process). False for a request of a client without HTTP sessions: the session it started
    /// must outlive the request so the client can name it next time; the engine's idle timeout ends it.
    /// </param>
    public McpConnection(SessionService sessions, McpCaller caller, bool endsWithConnection)
    {
        _sessions = sessions;
        Caller = caller;
        EndsWithConnection = endsWithConnection;
    }

    /// <summary>The tenant.</summary>
    public McpCaller Caller { get; }

    /// <summary>
    /// Runs this connection's executions one after another. The engine refuses a second
    /// execution while one runs (session_busy); a model that sends two calls in parallel, or calls
    /// again right after cancelling one (whose interrupt takes a moment), is better served by
    /// waiting its turn. Held until an execution has completed, so the engine's turn is free by then.
    /// </summary>
    public SemaphoreSlim ExecutionGate { get; } = new(1, 1);

    /// <summary>See the constructor.</summary>
    public bool EndsWithConnection { get; }

    /// <summary>The connection's own session while it is alive; null before first use or after it ended.</summary>
    public Session? OwnSession => _own is { } own ? _sessions.TryGet(Caller.TenantId, own.Id) : null;

    /// <summary>
    /// The session named by <paramref name="sessionId"/> (which must be the tenant's), or else the
    /// connection's own, started now if it has none or if its earlier one ended (idle timeout).
    /// </summary>
    /// <exception cref="ToolException">session_id names no live session of this tenant.</exception>
    /// <exception cref="VivariumException">session_limit_reached or sandbox_unavailable while starting one.</exception>
    public async Task<SessionChoice> GetOrStartAsync(string? sessionId, CancellationToken cancellationToken)
    {
        if (sessionId is not null)
        {
            return new SessionChoice(Named(sessionId), Started: false, Replaced: false);
        }
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (OwnSession is { } alive)
            {
                return new SessionChoice(alive, Started: false, Replaced: false);
            }
            var replaced = _own is not null;
            _own = await _sessions.CreateAsync(Caller.TenantId, new SessionCreateOptions(), cancellationToken, Caller.MaxSessions);
            return new SessionChoice(_own, Started: true, Replaced: replaced);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The named session, or the connection's own if it has one; null when neither (nothing started yet).</summary>
    /// <exception cref="ToolException">session_id names no live session of this tenant.</exception>
    public Session? Existing(string? sessionId) => sessionId is not null ? Named(sessionId) : OwnSession;

    /// <summary>A live session of this tenant by id.</summary>
    /// <exception cref="ToolException">No such session for this tenant (another tenant's looks the same: unknown).</exception>
    public Session Named(string sessionId) =>
        _sessions.TryGet(Caller.TenantId, sessionId)
        ?? throw new ToolException(
            $"session_id: there is no live session '{Shorten(sessionId)}' for you. A session ends when it is deleted, its MCP session ends, " +
            "or it stays idle too long; leave session_id out to use this connection's own session (started if needed).");

    /// <summary>Ends the connection's own session if it ends with the connection; later calls are refused.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            if (EndsWithConnection && OwnSession is { } own)
            {
                try
                {
                    await _sessions.DeleteAsync(Caller.TenantId, own.Id);
                }
                catch (VivariumException e) when (e.Code == ErrorCodes.SessionNotFound)
                {
                    // It ended on its own in the meantime (idle timeout, shutdown): nothing left to do.
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
