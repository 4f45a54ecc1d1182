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
            var ready = pool.IsReady;
            var view = new ReadinessView(ready ? "ready" : "not_ready", pool.Available, pool.TargetSize, sessions.Count,
                ready ? null : pool.LastFailure ?? (pool.Initialized.IsFaulted ? "the sandbox backend failed to start" : "the pool is warming up"));
            return ready ? Results.Ok(view) : Results.Json(view, statusCode: StatusCodes.Status503ServiceUnavailable);
        }).WithTags("Operations").WithSummary("Readiness: the backend works and a warm sandbox is waiting");

        app.MapGet("/docs", () => Results.Content(ApiReferencePage.Html, "text/html; charset=utf-8"))
            .ExcludeFromDescription();
        return app;
    }
}
