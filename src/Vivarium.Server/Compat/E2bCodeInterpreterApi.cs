using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Api;
using Vivarium.Server.Errors;

namespace Vivarium.Server.Compat;

/// <summary>Body of the code interpreter's <c>POST /execute</c>.</summary>
public sealed record E2bExecuteBody
{
    /// <summary>Python source.</summary>
    [JsonPropertyName("code")] public string? Code { get; init; }
    /// <summary>A context from <c>POST /contexts</c>; none means the sandbox's default one.</summary>
    [JsonPropertyName("context_id")] public string? ContextId { get; init; }
    /// <summary>Only Python is served.</summary>
    [JsonPropertyName("language")] public string? Language { get; init; }
    /// <summary>Per-execution environment; refused (see docs/compat.md).</summary>
    [JsonPropertyName("env_vars")] public Dictionary<string, string>? EnvVars { get; init; }
}

/// <summary>Body of <c>POST /contexts</c>.</summary>
public sealed record E2bCreateContextBody
{
    /// <summary>Only Python is served.</summary>
    [JsonPropertyName("language")] public string? Language { get; init; }
    /// <summary>Only the workspace, <c>/home/user</c>.</summary>
    [JsonPropertyName("cwd")] public string? Cwd { get; init; }
}

/// <summary>A code context as E2B shows it.</summary>
/// <param name="Id">The context id (the id of the Vivarium session behind it).</param>
/// <param name="Language">Always python.</param>
/// <param name="Cwd">Always /home/user.</param>
public sealed record E2bContext(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("language")] string Language,
    [property: JsonPropertyName("cwd")] string Cwd);

/// <summary>
/// The code interpreter inside a sandbox (E2B's port 49999): run code as NDJSON, and manage
/// contexts. A context is a Vivarium session: the default context is the sandbox's own, an
/// extra one is another session of the same tenant that ends with the sandbox. Errors are
/// plain text, as E2B's server sends them.
/// </summary>
internal static class E2bCodeInterpreterApi
{
    private static readonly TimeSpan KeepaliveInterval = TimeSpan.FromSeconds(5);

    public static void Map(IEndpointRouteBuilder app, E2bSandboxes sandboxes)
    {
        var api = app.MapGroup("").WithTags("E2B compatibility")
            .WithMetadata(new E2bSandboxScope())
            .AddEndpointFilter(PlainTextErrors);

        api.MapPost("/execute", Execute)
            .RequireRateLimiting(ExecutionsApi.RatePolicy)
            .WithSummary("E2B code interpreter: run code, streaming NDJSON lines until end_of_execution");
        api.MapPost("/contexts", CreateContext).WithSummary("E2B code interpreter: create a context (a session that ends with the sandbox)");
        api.MapGet("/contexts", ListContexts).WithSummary("E2B code interpreter: list contexts");
        api.MapPost("/contexts/{contextId}/restart", RestartContext).WithSummary("E2B code interpreter: restart a context (fresh interpreter, files kept)");
        api.MapDelete("/contexts/{contextId}", RemoveContext).WithSummary("E2B code interpreter: remove a context");

        async Task<IResult> Execute(HttpContext http, E2bExecuteBody? body, IOptions<ExecutionOptions> options, TimeProvider time)
        {
            var sandbox = http.Sandbox();
            if (body?.ContextId is not null && body.Language is not null)
            {
                return Text(StatusCodes.Status400BadRequest, "Only one of context_id or language can be provided");
            }
            if (!E2bWire.IsPython(body?.Language))
            {
                return Text(StatusCodes.Status400BadRequest, $"language '{body?.Language}' is not supported: Vivarium runs Python only");
            }
            if (body?.EnvVars is { Count: > 0 })
            {
                return Text(StatusCodes.Status400BadRequest, "per-execution envs are not supported: set envs when creating the sandbox (see docs/compat.md)");
            }
            var session = body?.ContextId is { } contextId
                ? sandboxes.Context(sandbox, contextId)
                : sandboxes.Primary(sandbox);
            if (session is null)
            {
                return Text(StatusCodes.Status404NotFound, $"Context {body?.ContextId} not found");
            }
            // E2B has no server-side timeout: the SDK's timeoutMs closes the connection, which
            // interrupts the code. The server's maximum still bounds a client that never gives up.
            var running = await sandboxes.StartQueuedAsync(session, new ExecuteRequest(body?.Code!, options.Value.MaxTimeout), http.RequestAborted);
            await StreamAsync(http, running, time);
            return Results.Empty;
        }

        async Task<IResult> CreateContext(HttpContext http, E2bCreateContextBody? body)
        {
            var sandbox = http.Sandbox();
            if (!E2bWire.IsPython(body?.Language))
            {
                return Text(StatusCodes.Status400BadRequest, $"language '{body?.Language}' is not supported: Vivarium runs Python only");
            }
            if (!E2bWire.IsHome(body?.Cwd))
            {
                return Text(StatusCodes.Status400BadRequest, $"cwd '{body?.Cwd}' is not supported: a context always starts in {E2bWire.Home}");
            }
            var primary = sandboxes.Primary(sandbox);
            var session = await sandboxes.Sessions.CreateAsync(sandbox.Tenant.Id, new SessionCreateOptions
            {
                IdleTimeout = sandboxes.ContextIdleTimeout(primary.Settings.IdleTimeout),
                Environment = primary.Settings.Environment,
                Limits = primary.Settings.Limits,
                Metadata = new Dictionary<string, string> { [E2bSandboxes.ContextOfKey] = sandbox.Id },
            }, http.RequestAborted, sandbox.Tenant.MaxSessions);
            sandbox.Contexts[session.Id] = 0;
            if (sandboxes.Find(sandbox.Id) is null)
            {
                // Killed while the context was starting: do not leave the context behind.
                await sandboxes.RemoveContextAsync(sandbox, session.Id);
                return Text(StatusCodes.Status502BadGateway, "The sandbox was not found");
            }
            return TypedResults.Json(new E2bContext(session.Id, "python", E2bWire.Home));
        }

        IResult ListContexts(HttpContext http)
        {
            var sandbox = http.Sandbox();
            var contexts = new List<E2bContext> { new(sandbox.Id, "python", E2bWire.Home) };
            contexts.AddRange(sandboxes.Contexts(sandbox).Select(s => new E2bContext(s.Id, "python", E2bWire.Home)));
            return TypedResults.Json(contexts);
        }

        async Task<IResult> RestartContext(HttpContext http, string contextId)
        {
            var session = sandboxes.Context(http.Sandbox(), contextId);
            if (session is null)
            {
                return Text(StatusCodes.Status404NotFound, $"Context {contextId} not found");
            }
            await session.RestartAsync(http.RequestAborted);
            return TypedResults.NoContent();
        }

        async Task<IResult> RemoveContext(HttpContext http, string contextId)
        {
            var sandbox = http.Sandbox();
            if (contextId == sandbox.Id)
            {
                return Text(StatusCodes.Status400BadRequest, "the default context lives as long as the sandbox; kill the sandbox to end it");
            }
            if (sandboxes.Context(sandbox, contextId) is null)
            {
                return Text(StatusCodes.Status404NotFound, $"Context {contextId} not found");
            }
            await sandboxes.RemoveContextAsync(sandbox, contextId);
            return TypedResults.NoContent();
        }
    }

    /// <summary>
    /// Writes the execution as NDJSON: each output as it happens, a keepalive line while the code
    /// is quiet (so a vanished client is noticed), then what only the end can say, then
    /// <c>end_of_execution</c>. Leaving early (the client closed the connection) interrupts the code.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, RunningExecution running, TimeProvider time)
    {
        var cancellationToken = http.RequestAborted;
        var response = http.Response;
        response.ContentType = "application/x-ndjson";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        // Headers go out now: the SDK's request timeout runs until it sees them.
        await response.StartAsync(cancellationToken);

        // The engine forwards output as the program wrote it (print("a") is "a", then "\n");
        // E2B's kernel sends it in batches, and clients read logs.stdout entry by entry, so
        // chunks of one stream that follow each other closely go out as one line.
        var held = new StreamBatch();
        await using var events = running.ReadEventsAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        var next = events.MoveNextAsync().AsTask();
        try
        {
            while (true)
            {
                var wait = held.IsEmpty ? KeepaliveInterval : held.Wait(time.GetUtcNow());
                var finished = await Task.WhenAny(next, Task.Delay(wait, time, cancellationToken));
                if (finished != next)
                {
                    await finished; // surfaces a cancelled delay
                    await WriteAsync(response, held.IsEmpty ? E2bWire.KeepaliveLine : held.Take(), cancellationToken);
                    continue;
                }
                if (!await next)
                {
                    break;
                }
                var item = events.Current;
                var now = time.GetUtcNow();
                next = events.MoveNextAsync().AsTask();
                if (item is ExecutionOutputEvent { Output: StreamOutput stream })
                {
                    if (held.Add(stream, now) is { } full)
                    {
                        await WriteAsync(response, full, cancellationToken);
                    }
                    continue;
                }
                if (!held.IsEmpty)
                {
                    await WriteAsync(response, held.Take(), cancellationToken);
                }
                if (item is ExecutionCompleted { Execution: var execution })
                {
                    foreach (var line in E2bWire.ClosingLines(execution, now))
                    {
                        await WriteAsync(response, line, cancellationToken);
                    }
                }
                else if (E2bWire.LiveLine(item, now) is { } line)
                {
                    await WriteAsync(response, line, cancellationToken);
                }
            }
            if (!held.IsEmpty)
            {
                await WriteAsync(response, held.Take(), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away; disposing the enumerator interrupts the code.
            await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The engine failed to finish the execution: say so in E2B's own words.
            await WriteAsync(response, E2bWire.ErrorLine("UnexpectedEndOfExecution", "the execution ended without a result: " + e.Message, ""), cancellationToken);
        }
        await WriteAsync(response, E2bWire.EndOfExecutionLine, cancellationToken);
    }

    /// <summary>Stream text held back briefly so that one write of the program's is one line.</summary>
    private sealed class StreamBatch
    {
        private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(15);
        private static readonly TimeSpan MaxAge = TimeSpan.FromMilliseconds(100);
        private const int MaxChars = 64 * 1024;

        private readonly System.Text.StringBuilder _text = new();
        private string _name = "stdout";
        private DateTimeOffset _since;

        public bool IsEmpty => _text.Length == 0;

        /// <summary>
        /// How long to wait for more: a short window after a complete line, otherwise until the
        /// batch is as old as allowed (the rest of a line is usually a moment away).
        /// </summary>
        public TimeSpan Wait(DateTimeOffset now)
        {
            if (_text[^1] == '\n')
            {
                return Window;
            }
            var left = MaxAge - (now - _since);
            return left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1);
        }

        /// <summary>Adds a chunk; returns a line to send first when the chunk cannot join what is held.</summary>
        public byte[]? Add(StreamOutput stream, DateTimeOffset now)
        {
            byte[]? flushed = null;
            if (!IsEmpty && (stream.Name != _name || now - _since > MaxAge || _text.Length + stream.Text.Length > MaxChars))
            {
                flushed = Take();
            }
            if (IsEmpty)
            {
                _name = stream.Name;
                _since = now;
            }
            _text.Append(stream.Text);
            return flushed;
        }

        public byte[] Take()
        {
            var line = E2bWire.StreamLine(_name, _text.ToString(), _since);
            _text.Clear();
            return line;
        }
    }

    private static async Task WriteAsync(HttpResponse response, byte[] line, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(line, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static IResult Text(int status, string message) => Results.Text(message, "text/plain; charset=utf-8", statusCode: status);

    /// <summary>Engine refusals in the code interpreter's shape: a status and a plain-text message.</summary>
    private static async ValueTask<object?> PlainTextErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (VivariumException e) when (!context.HttpContext.Response.HasStarted)
        {
            // A session that ended under the request is a sandbox that is gone, as E2B's proxy says it.
            var status = e.Code == ErrorCodes.SessionNotFound ? StatusCodes.Status502BadGateway : ProblemCatalog.StatusOf(e.Code);
            return Text(status, e.Message);
        }
    }
}
