using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Server.Errors;

namespace Vivarium.Server.Auth;

/// <summary>Authenticates <c>Authorization: Bearer &lt;key&gt;</c> (or <c>X-API-Key</c>) against the <see cref="ApiKeyStore"/>.</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "vivarium:tenant";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey();
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (keys.Find(presented) is not { } tenant)
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
        }
        // The tenant is also the name identifier: MCP's stateful sessions are bound to it, so a
        // session id is useless to any other tenant (the SDK refuses principals without one).
        var identity = new ClaimsIdentity([new Claim(TenantClaim, tenant.Id), new Claim(ClaimTypes.NameIdentifier, tenant.Id)], SchemeName);
        Context.Features.Set(tenant);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var detail = PresentedKey() is null
            ? "send your API key as 'Authorization: Bearer <key>'"
            : "the API key is not valid";
        await ProblemCatalog.Problem(ErrorCodes.Unauthorized, detail).ExecuteAsync(Context);
    }

    private string? PresentedKey()
    {
        string? header = Request.Headers.Authorization;
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var key = header["Bearer ".Length..].Trim();
            return key.Length > 0 ? key : null;
        }
        string? apiKey = Request.Headers["X-API-Key"];
        return string.IsNullOrWhiteSpace(apiKey) ? null : apiKey.Trim();
    }
}

/// <summary>The caller's tenant, as endpoints receive it.</summary>
public static class TenantHttpContextExtensions
{
    /// <summary>The authenticated tenant (endpoints under /v1 always have one).</summary>
    public static Tenant Tenant(this HttpContext context) =>
        context.Features.Get<Tenant>() ?? throw new VivariumException(ErrorCodes.Unauthorized, "no API key");
}
