using System.Runtime.CompilerServices;
using Vivarium.Client.Executions;
using Vivarium.Client.Http;

namespace Vivarium.Client;

public sealed partial class VivariumClient
{
    /// <summary>
    /// Runs code in a session and waits for it to end (<c>POST /v1/sessions/{id}/execute</c>).
    /// Variables, imports and files persist to the next execution, as in a notebook.
    /// </summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="timeout">Interrupt the code after this long; null for the server's default. Sent in whole seconds, rounded up.</param>
    /// <param name="cancellationToken">Cancels the request by closing its connection, which the server takes as an interrupt.</param>
    /// <returns>The execution. A Python exception is <see cref="ExecutionStatus.Error"/> here, not a thrown exception.</returns>
    /// <exception cref="SessionNotFoundException">No such session.</exception>
    /// <exception cref="SessionBusyException">The session is running another execution.</exception>
    /// <exception cref="RateLimitedException">Too many executions per minute; see <see cref="VivariumApiException.RetryAfter"/>.</exception>
    /// <exception cref="PayloadTooLargeException">The code is over the server's limit.</exception>
    public Task<Execution> ExecuteAsync(string sessionId, string code, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var request = _api.Create(HttpMethod.Post, ApiRoutes.Execute(sessionId), Json(ExecuteBody(code, timeout)));
        return SendAsync(request, VivariumJsonContext.Default.Execution, cancellationToken);
    }

    /// <summary>
    /// Runs code in a session and yields its outputs as they happen (<c>POST /v1/sessions/{id}/execute</c>
    /// with <c>Accept: text/event-stream</c>). The last event is always a <see cref="DoneEvent"/>
    /// carrying the whole <see cref="Execution"/>.
    /// </summary>
    /// <remarks>
    /// Errors found before the code starts (busy, not found, invalid) are thrown from the first
    /// <c>MoveNextAsync</c>. Cancelling the token, or leaving the <c>await foreach</c> early, closes
    /// the connection, and the server interrupts the code: stop reading only when you mean to stop it.
    /// </remarks>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="timeout">Interrupt the code after this long; null for the server's default. Sent in whole seconds, rounded up.</param>
    /// <param name="cancellationToken">Cancels the stream and, by closing the connection, the code.</param>
    /// <returns>The events, ending with <see cref="DoneEvent"/>.</returns>
    /// <exception cref="IOException">The stream ended before its <c>done</c> event (the connection was cut).</exception>
    public IAsyncEnumerable<ExecutionEvent> StreamExecuteAsync(string sessionId, string code, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        // Checked here, not in the iterator, so a bad argument throws at the call rather than at the first MoveNextAsync.
        var route = ApiRoutes.Execute(sessionId);
        var body = ExecuteBody(code, timeout);
        return StreamAsync(route, body, cancellationToken);
    }

    /// <summary>
    /// Runs code once in a fresh session that ends right after (<c>POST /v1/execute</c>): input
    /// files are placed in the workspace first, and the files the code produced come back with the execution.
    /// </summary>
    /// <param name="code">Python source.</param>
    /// <param name="files">Files to place in the workspace before the code runs; null for none.</param>
    /// <param name="timeout">Interrupt the code after this long; null for the server's default. Sent in whole seconds, rounded up.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The execution and the files it produced.</returns>
    /// <exception cref="SessionLimitReachedException">The tenant or the server holds as many sessions as allowed.</exception>
    /// <exception cref="SandboxUnavailableException">No sandbox could be started.</exception>
    /// <exception cref="PayloadTooLargeException">The code or the files are over the server's limit.</exception>
    public Task<ExecuteOnceResult> ExecuteOnceAsync(string code, IEnumerable<InputFile>? files = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        var body = new ExecuteOnceRequest(code, WireSeconds.From(timeout, nameof(timeout)), files?.ToList());
        var request = _api.Create(HttpMethod.Post, ApiRoutes.ExecuteOnce, ApiConnection.Json(body, WireJsonContext.Default.ExecuteOnceRequest));
        return SendAsync(request, VivariumJsonContext.Default.ExecuteOnceResult, cancellationToken);
    }

    private static ExecuteRequest ExecuteBody(string code, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(code);
        return new ExecuteRequest(code, WireSeconds.From(timeout, nameof(timeout)));
    }

    private static HttpContent Json(ExecuteRequest body) => ApiConnection.Json(body, WireJsonContext.Default.ExecuteRequest);

    // Each enumeration sends its own request: a request message can be sent only once.
    private async IAsyncEnumerable<ExecutionEvent> StreamAsync(string route, ExecuteRequest body, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = _api.Create(HttpMethod.Post, route, Json(body), ApiConnection.EventStreamMediaType);
        // Headers only: the body is the stream.
        using var response = await _api.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.Content.Headers.ContentType?.MediaType == ApiConnection.JsonMediaType)
        {
            // A server or proxy that ignored Accept answered with the whole Execution: the same outcome, in one event.
            yield return new DoneEvent(await ApiConnection.ReadJsonAsync(response, VivariumJsonContext.Default.Execution, cancellationToken));
            yield break;
        }
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var reachedDone = false;
        try
        {
            await foreach (var executionEvent in ExecutionEventParser.ReadAsync(stream, cancellationToken))
            {
                yield return executionEvent;
            }
            reachedDone = true;
        }
        finally
        {
            // Cancelled, failed, or the caller stopped enumerating: the contract says closing the
            // connection interrupts the code, so close it now rather than when a drain gives up.
            if (!reachedDone)
            {
                await ConnectionAbort.AbortAsync(stream);
            }
        }
    }
}
