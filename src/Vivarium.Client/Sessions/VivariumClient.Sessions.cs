using Vivarium.Client.Http;

namespace Vivarium.Client;

public sealed partial class VivariumClient
{
    /// <summary>Creates a session (<c>POST /v1/sessions</c>): a sandboxed interpreter, ready to execute.</summary>
    /// <param name="options">Idle timeout, environment, limits and labels; null for the server's defaults.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The new session.</returns>
    /// <exception cref="SessionLimitReachedException">The tenant or the server holds as many sessions as allowed.</exception>
    /// <exception cref="SandboxUnavailableException">No sandbox could be started.</exception>
    /// <exception cref="InvalidRequestException">An option is out of range (e.g. a limit above the server's default).</exception>
    public Task<Session> CreateSessionAsync(CreateSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Always a body, "{}" at least: valid whether the server treats the body as optional or not.
        var body = new CreateSessionRequest(
            WireSeconds.From(options?.IdleTimeout, nameof(options)),
            options?.Env,
            options?.Limits,
            options?.Metadata);
        var request = _api.Create(HttpMethod.Post, ApiRoutes.Sessions, ApiConnection.Json(body, WireJsonContext.Default.CreateSessionRequest));
        return SendAsync(request, VivariumJsonContext.Default.Session, cancellationToken);
    }

    /// <summary>One session's state (<c>GET /v1/sessions/{id}</c>).</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The session.</returns>
    /// <exception cref="SessionNotFoundException">No such session, or it has ended.</exception>
    public Task<Session> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        SendAsync(_api.Create(HttpMethod.Get, ApiRoutes.Session(sessionId)), VivariumJsonContext.Default.Session, cancellationToken);

    /// <summary>The caller's sessions (<c>GET /v1/sessions</c>); other tenants' are never listed.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The sessions, in the server's order.</returns>
    public async Task<IReadOnlyList<Session>> ListSessionsAsync(CancellationToken cancellationToken = default)
    {
        var list = await SendAsync(_api.Create(HttpMethod.Get, ApiRoutes.Sessions), WireJsonContext.Default.SessionList, cancellationToken);
        return list.Sessions ?? [];
    }

    /// <summary>Ends a session (<c>DELETE /v1/sessions/{id}</c>): its sandbox and workspace are gone.</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="SessionNotFoundException">No such session, or it had already ended.</exception>
    public Task DeleteSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        SendAsync(_api.Create(HttpMethod.Delete, ApiRoutes.Session(sessionId)), cancellationToken);

    /// <summary>
    /// Interrupts the running execution (<c>POST /v1/sessions/{id}/interrupt</c>), as Ctrl-C would;
    /// the interpreter's state is kept.
    /// </summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>True when something was running and got interrupted; false when the session was idle.</returns>
    /// <exception cref="SessionNotFoundException">No such session.</exception>
    public async Task<bool> InterruptAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var result = await SendAsync(_api.Create(HttpMethod.Post, ApiRoutes.Interrupt(sessionId)), WireJsonContext.Default.InterruptResult, cancellationToken);
        return result.Interrupted;
    }

    /// <summary>
    /// Restarts the interpreter (<c>POST /v1/sessions/{id}/restart</c>): variables and imports are
    /// lost, workspace files are kept.
    /// </summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The session after the restart.</returns>
    /// <exception cref="SessionNotFoundException">No such session.</exception>
    /// <exception cref="SandboxUnavailableException">No new sandbox could be started.</exception>
    public Task<Session> RestartAsync(string sessionId, CancellationToken cancellationToken = default) =>
        SendAsync(_api.Create(HttpMethod.Post, ApiRoutes.Restart(sessionId)), VivariumJsonContext.Default.Session, cancellationToken);
}
