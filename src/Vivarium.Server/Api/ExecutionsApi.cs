using System.Text;
using System.Text.Json;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Api;

/// <summary>Execution routes: in a session (JSON or Server-Sent Events) and one-shot.</summary>
public static class ExecutionsApi
{
    /// <summary>The rate-limiting policy applied to executions.</summary>
    public const string RatePolicy = "executions";

    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);

    /// <summary>Maps the routes onto the authenticated /v1 group.</summary>
    public static RouteGroupBuilder MapExecutions(this RouteGroupBuilder v1)
    {
        v1.MapPost("/sessions/{id}/execute", async (HttpContext http, SessionService service, string id, ExecuteBody? body) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            var running = session.Start(new ExecuteRequest(body?.Code!, Seconds.ToTimeSpan(body?.TimeoutSeconds, "timeout_seconds")), http.RequestAborted);
            if (WantsEventStream(http.Request))
            {
                // Until the code has a sandbox nothing is sent: a sandbox that cannot be started
                // (host at capacity) is answered as problem+json, not as a stream cut short.
                await running.Started;
                await WriteEventStreamAsync(http, running);
                return Results.Empty;
            }
            return TypedResults.Ok(await running.Completion);
        })
        .RequireRateLimiting(RatePolicy)
        .WithTags("Executions").WithName("Execute")
        .WithSummary("Run code in a session; with Accept: text/event-stream, stream events ending with 'done'")
        .Produces<Execution>();

        v1.MapPost("/execute", async (HttpContext http, SessionService service, OneShotBody? body, Microsoft.Extensions.Options.IOptions<ServerOptions> options) =>
        {
            if (string.IsNullOrEmpty(body?.Code))
            {
                throw new VivariumException(ErrorCodes.InvalidRequest, "'code' is required");
            }
            var tenant = http.Tenant();
            var session = await service.CreateAsync(tenant.Id, null, http.RequestAborted, tenant.MaxSessions);
            try
            {
                foreach (var file in body.Files ?? [])
                {
                    await session.WriteFileAsync(file.Path!, DecodeBase64(file.ContentBase64, file.Path), http.RequestAborted);
                }
                var execution = await session.ExecuteAsync(new ExecuteRequest(body.Code, Seconds.ToTimeSpan(body.TimeoutSeconds, "timeout_seconds")), http.RequestAborted);
                // The cap counts the bytes actually read: the sizes in the file list come from the
                // sandbox, which may under-report them.
                var produced = new List<OutputFileView>();
                long total = 0;
                foreach (var change in execution.Files.Where(f => f.Change != "deleted"))
                {
                    if (total + change.Size > options.Value.MaxReturnedFileBytes)
                    {
                        break; // the execution's file list still names it
                    }
                    var bytes = await session.ReadFileAsync(change.Path, http.RequestAborted);
                    if (total + bytes.Length > options.Value.MaxReturnedFileBytes)
                    {
                        break;
                    }
                    total += bytes.Length;
                    produced.Add(new OutputFileView(change.Path, bytes.Length, Convert.ToBase64String(bytes)));
                }
                return TypedResults.Ok(new OneShotResult(execution, produced));
            }
            finally
            {
                await service.DeleteAsync(tenant.Id, session.Id);
            }
        })
        .RequireRateLimiting(RatePolicy)
        .WithTags("Executions").WithName("ExecuteOnce")
        .WithSummary("One-shot: a fresh session with optional input files; returns the execution and the files it produced");

        return v1;
    }

    private static byte[] DecodeBase64(string? base64, string? path)
    {
        try
        {
            return Convert.FromBase64String(base64 ?? "");
        }
        catch (FormatException)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, $"content_base64 of '{path}' is not valid base64");
        }
    }

    private static bool WantsEventStream(HttpRequest request) =>
        request.Headers.Accept.Any(a => a is not null && a.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Writes the execution's events as Server-Sent Events, with a comment line as keep-alive
    /// while the code is quiet (proxies drop idle connections). Closing the connection
    /// interrupts the code, because the events' reader stops early.
    /// </summary>
    private static async Task WriteEventStreamAsync(HttpContext http, RunningExecution running)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.Body.FlushAsync(http.RequestAborted);

        // The reader gets a token of its own, so that however this method ends, its pending
        // read can be ended before the enumerator is disposed (see the finally below).
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var events = running.ReadEventsAsync(stopReading.Token).GetAsyncEnumerator(stopReading.Token);
        var next = events.MoveNextAsync().AsTask();
        try
        {
            while (true)
            {
                var finished = await Task.WhenAny(next, Task.Delay(KeepAliveInterval, http.RequestAborted));
                if (finished != next)
                {
                    await WriteAsync(response, ": keepalive\n\n", http.RequestAborted);
                    continue;
                }
                if (!await next)
                {
                    return;
                }
                var (name, data) = Describe(events.Current);
                await WriteAsync(response, $"event: {name}\ndata: {data}\n\n", http.RequestAborted);
                next = events.MoveNextAsync().AsTask();
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; stopping the reader interrupts the code.
        }
        finally
        {
            // An async iterator throws NotSupportedException when it is disposed while a
            // MoveNextAsync is pending, which is the case whenever the client leaves while the
            // code is quiet. End the pending read first; the reader stopping early is also what
            // interrupts the code.
            await stopReading.CancelAsync();
            await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await events.DisposeAsync();
        }
    }

    private static (string Name, string Data) Describe(ExecutionEvent item) => item switch
    {
        ExecutionOutputEvent { Output: var output } => (output switch
        {
            StreamOutput => "stream",
            DisplayDataOutput => "display_data",
            ExecuteResultOutput => "execute_result",
            _ => "error",
        }, JsonSerializer.Serialize(output, ApiJson.Options)),
        ExecutionClearedEvent => ("clear_output", """{"type":"clear_output"}"""),
        ExecutionCompleted { Execution: var execution } => ("done", JsonSerializer.Serialize(execution, ApiJson.Options)),
        _ => ("unknown", "{}"),
    };

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
