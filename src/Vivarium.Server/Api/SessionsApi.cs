using Microsoft.AspNetCore.Http.HttpResults;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Api;

/// <summary>Session routes: create, list, get, delete, interrupt, restart.</summary>
public static class SessionsApi
{
    /// <summary>Maps the routes onto the authenticated /v1 group.</summary>
    public static RouteGroupBuilder MapSessions(this RouteGroupBuilder v1)
    {
        var sessions = v1.MapGroup("/sessions").WithTags("Sessions");

        sessions.MapPost("/", async Task<Created<SessionView>> (HttpContext http, SessionService service, CreateSessionBody? body) =>
        {
            var tenant = http.Tenant();
            var session = await service.CreateAsync(tenant.Id, new SessionCreateOptions
            {
                IdleTimeout = Seconds.ToTimeSpan(body?.IdleTimeoutSeconds, "idle_timeout_seconds"),
                Environment = body?.Env,
                Limits = body?.Limits.ToLimits(),
                Metadata = body?.Metadata,
            }, http.RequestAborted, tenant.MaxSessions);
            return TypedResults.Created($"/v1/sessions/{session.Id}", SessionView.From(session));
        }).WithName("CreateSession").WithSummary("Create a session (a warm sandbox with numpy, pandas and matplotlib loaded)");

        sessions.MapGet("/", (HttpContext http, SessionService service) =>
            TypedResults.Ok(new SessionList(service.List(http.Tenant().Id).Select(SessionView.From).ToList())))
            .WithName("ListSessions").WithSummary("List your sessions");

        sessions.MapGet("/{id}", (HttpContext http, SessionService service, string id) =>
            TypedResults.Ok(SessionView.From(service.Get(http.Tenant().Id, id))))
            .WithName("GetSession").WithSummary("Get a session's state");

        sessions.MapDelete("/{id}", async (HttpContext http, SessionService service, string id) =>
        {
            await service.DeleteAsync(http.Tenant().Id, id);
            return TypedResults.NoContent();
        }).WithName("DeleteSession").WithSummary("End a session; its sandbox and files are deleted");

        sessions.MapPost("/{id}/interrupt", (HttpContext http, SessionService service, string id) =>
            TypedResults.Ok(new InterruptView(service.Get(http.Tenant().Id, id).Interrupt())))
            .WithName("InterruptSession").WithSummary("Interrupt the running code (KeyboardInterrupt); variables are kept");

        sessions.MapPost("/{id}/restart", async (HttpContext http, SessionService service, string id) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            await session.RestartAsync(http.RequestAborted);
            return TypedResults.Ok(SessionView.From(session));
        }).WithName("RestartSession").WithSummary("Start a fresh interpreter; files are kept");

        return v1;
    }
}
