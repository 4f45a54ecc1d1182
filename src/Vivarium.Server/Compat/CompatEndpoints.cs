using Microsoft.Extensions.Options;
using Vivarium.Engine.Sessions;

namespace Vivarium.Server.Compat;

/// <summary>
/// The drop-in surfaces for other clients: the E2B SDK (control plane, code interpreter, envd)
/// and Cohere Terrarium. Each only translates to the engine (sessions, executions, workspace
/// files), with the same tenants, quotas and limits as REST v1. See docs/compat.md.
/// </summary>
public static class CompatEndpoints
{
    /// <summary>
    /// Maps the compatibility routes and adds the middleware that authenticates E2B sandbox
    /// requests by their access token. Call it after authentication and before the rate
    /// limiter, so executions sent with a sandbox token count against that sandbox's tenant.
    /// </summary>
    public static WebApplication UseCompat(this WebApplication app)
    {
        var sandboxes = new E2bSandboxes(
            app.Services.GetRequiredService<SessionService>(),
            app.Services.GetRequiredService<IOptions<Engine.SessionOptions>>().Value,
            app.Services.GetRequiredService<TimeProvider>());
        // Ties each sandbox's contexts to it (no hosted service, so that VivariumServer needs one line).
        app.Lifetime.ApplicationStarted.Register(() => _ = sandboxes.RunSweepsAsync(app.Lifetime.ApplicationStopping));
        app.Use((http, next) => E2bSandboxAccess.InvokeAsync(http, next, sandboxes));

        E2bApi.Map(app, sandboxes);
        E2bCodeInterpreterApi.Map(app, sandboxes);
        E2bEnvdApi.Map(app, sandboxes);
        TerrariumApi.Map(app);
        return app;
    }
}
