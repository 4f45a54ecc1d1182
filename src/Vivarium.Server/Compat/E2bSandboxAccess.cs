namespace Vivarium.Server.Compat;

/// <summary>Marks an endpoint as addressed to one sandbox (E2B's <c>sandboxUrl</c> side).</summary>
/// <param name="SandboxRequired">False for routes that also answer without a sandbox (<c>/health</c>).</param>
internal sealed record E2bSandboxScope(bool SandboxRequired = true);

/// <summary>
/// Authenticates requests addressed to a sandbox. The SDK sends them to <c>sandboxUrl</c> with
/// the sandbox in the <c>E2b-Sandbox-Id</c> header and no API key, only the sandbox's access
/// token (<c>X-Access-Token</c> for envd, <c>E2B-Traffic-Access-Token</c> for the code
/// interpreter). Runs before the rate limiter, so executions count against the sandbox's tenant.
/// </summary>
internal static class E2bSandboxAccess
{
    public const string SandboxIdHeader = "E2b-Sandbox-Id";
    public const string AccessTokenHeader = "X-Access-Token";
    public const string TrafficTokenHeader = "E2B-Traffic-Access-Token";

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next, E2bSandboxes sandboxes)
    {
        var scope = http.GetEndpoint()?.Metadata.GetMetadata<E2bSandboxScope>();
        if (scope is null)
        {
            await next(http);
            return;
        }
        string? id = http.Request.Headers[SandboxIdHeader];
        if (string.IsNullOrEmpty(id))
        {
            if (scope.SandboxRequired)
            {
                await E2bApi.Error(StatusCodes.Status400BadRequest, $"send the sandbox id in the {SandboxIdHeader} header").ExecuteAsync(http);
                return;
            }
            await next(http);
            return;
        }
        // The id is checked before the token: an unknown sandbox is answered like E2B's proxy
        // does (502, which the SDK reports as a sandbox that timed out), and ids are unguessable.
        if (sandboxes.Find(id) is not { } sandbox)
        {
            await TypedResults.Json(new Dictionary<string, object>
            {
                ["sandboxId"] = id.Length <= 80 ? id : id[..80],
                ["message"] = "The sandbox was not found",
                ["code"] = StatusCodes.Status502BadGateway,
            }, statusCode: StatusCodes.Status502BadGateway).ExecuteAsync(http);
            return;
        }
        if (!sandbox.Accepts(http.Request.Headers[AccessTokenHeader]) && !sandbox.Accepts(http.Request.Headers[TrafficTokenHeader]))
        {
            await E2bApi.Error(StatusCodes.Status401Unauthorized, $"this sandbox needs its access token in {AccessTokenHeader} (the SDK sends it by itself)").ExecuteAsync(http);
            return;
        }
        http.Features.Set(sandbox);
        http.Features.Set(sandbox.Tenant);
        sandboxes.KeepAlive(sandbox);
        await next(http);
    }

    /// <summary>The sandbox the middleware authenticated.</summary>
    public static E2bSandbox Sandbox(this HttpContext http) =>
        http.Features.Get<E2bSandbox>() ?? throw new InvalidOperationException("a sandbox route ran without E2bSandboxAccess");
}
