using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Api;

namespace Vivarium.Server.Operations;

/// <summary>Liveness, readiness and the API reference page; no API key needed.</summary>
public static class OperationsApi
{
    /// <summary>Maps /healthz, /readyz and /docs.</summary>
    public static IEndpointRouteBuilder MapOperations(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }))
            .WithTags("Operations").WithSummary("Liveness: the process answers");

        app.MapGet("/readyz", (SandboxPool pool, SessionService sessions) =>
        {
            var full = sessions.IsFull;
            var ready = pool.IsReady && !full;
            var reason = ready ? null
                : full ? "the server holds as many sessions as it allows"
                : pool.LastFailure ?? (pool.Initialized.IsFaulted ? "the sandbox backend failed to start" : "the pool is warming up");
            var view = new ReadinessView(ready ? "ready" : "not_ready", pool.Available, pool.TargetSize, sessions.Count, reason);
            return ready ? Results.Ok(view) : Results.Json(view, statusCode: StatusCodes.Status503ServiceUnavailable);
        }).WithTags("Operations").WithSummary("Readiness: the backend works, the pool has warmed up, and there is room for sessions");

        app.MapGet("/docs", () => Results.Content(ApiReferencePage.Html, "text/html; charset=utf-8"))
            .ExcludeFromDescription();
        return app;
    }
}
