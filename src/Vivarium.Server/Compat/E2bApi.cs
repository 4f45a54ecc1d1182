using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox.Bubblewrap;
using Vivarium.Server.Auth;
using Vivarium.Server.Errors;

namespace Vivarium.Server.Compat;

/// <summary>Body of E2B's <c>POST /sandboxes</c> and <c>/v2/sandboxes</c> (the fields the SDK sends).</summary>
public sealed record E2bNewSandbox
{
    /// <summary>The template; only the code interpreter's is served.</summary>
    [JsonPropertyName("templateID")] public string? TemplateId { get; init; }
    /// <summary>Seconds of idleness before the sandbox ends.</summary>
    [JsonPropertyName("timeout")] public long? Timeout { get; init; }
    /// <summary>Labels returned as given.</summary>
    [JsonPropertyName("metadata")] public Dictionary<string, string>? Metadata { get; init; }
    /// <summary>Environment variables of the code.</summary>
    [JsonPropertyName("envVars")] public Dictionary<string, string>? EnvVars { get; init; }
    /// <summary>Refused when true: sandboxes have no network.</summary>
    [JsonPropertyName("allow_internet_access")] public bool? AllowInternetAccess { get; init; }
    /// <summary>Refused when true: there is no pause.</summary>
    [JsonPropertyName("autoPause")] public bool? AutoPause { get; init; }
    /// <summary>Refused when present: there is no pause.</summary>
    [JsonPropertyName("autoResume")] public JsonElement? AutoResume { get; init; }
    /// <summary>Refused when present: sandboxes have no network.</summary>
    [JsonPropertyName("network")] public JsonElement? Network { get; init; }
    /// <summary>Refused when present: there are no MCP gateways.</summary>
    [JsonPropertyName("mcp")] public JsonElement? Mcp { get; init; }
    /// <summary>Refused when present: there are no volumes.</summary>
    [JsonPropertyName("volumeMounts")] public JsonElement? VolumeMounts { get; init; }
}

/// <summary>Body of <c>POST /sandboxes/{id}/timeout</c> and of connect.</summary>
public sealed record E2bTimeoutBody
{
    /// <summary>Seconds.</summary>
    [JsonPropertyName("timeout")] public long? Timeout { get; init; }
}

/// <summary>
/// E2B's control plane (<c>apiUrl</c>): create, connect, list, inspect, time out and kill
/// sandboxes. Authenticated with the Vivarium API key, which the SDK sends as <c>X-API-Key</c>;
/// errors are E2B's <c>{code, message}</c>, so the SDK raises its own error types.
/// </summary>
internal static class E2bApi
{
    private const string ClientId = "vivarium";

    public static void Map(IEndpointRouteBuilder app, E2bSandboxes sandboxes)
    {
        var api = app.MapGroup("").WithTags("E2B compatibility").AddEndpointFilter(Errors);

        api.MapPost("/sandboxes", Create).WithSummary("E2B: create a sandbox (v1 path)");
        api.MapPost("/v2/sandboxes", Create).WithSummary("E2B: create a sandbox");
        api.MapGet("/sandboxes", List).WithSummary("E2B: list sandboxes (v1 path)");
        api.MapGet("/v2/sandboxes", List).WithSummary("E2B: list sandboxes");
        api.MapGet("/sandboxes/{sandboxId}", Detail).WithSummary("E2B: a sandbox's details");
        api.MapPost("/sandboxes/{sandboxId}/connect", Connect).WithSummary("E2B: connect to a running sandbox (v1 path)");
        api.MapPost("/v2/sandboxes/{sandboxId}/connect", Connect).WithSummary("E2B: connect to a running sandbox");
        api.MapPost("/sandboxes/{sandboxId}/timeout", SetTimeout).WithSummary("E2B: set the sandbox's timeout (idle time before it ends)");
        api.MapDelete("/sandboxes/{sandboxId}", Kill).WithSummary("E2B: kill a sandbox");

        // Asked for by the SDK but without an engine counterpart: a clear refusal, not a 404
        // that the SDK would report as "sandbox not found".
        foreach (var (method, pattern, why) in new[]
        {
            ("POST", "/sandboxes/{sandboxId}/pause", "pausing"),
            ("POST", "/sandboxes/{sandboxId}/resume", "resuming"),
            ("POST", "/sandboxes/{sandboxId}/snapshots", "snapshots"),
            ("GET", "/snapshots", "snapshots"),
            ("POST", "/sandboxes/{sandboxId}/fork", "forking"),
            ("PUT", "/sandboxes/{sandboxId}/network", "network settings"),
            ("GET", "/sandboxes/{sandboxId}/metrics", "sandbox metrics"),
            ("GET", "/sandboxes/{sandboxId}/logs", "sandbox logs"),
        })
        {
            api.MapMethods(pattern, [method], () => Error(StatusCodes.Status501NotImplemented, $"{why} is not supported by Vivarium (see docs/compat.md)"))
                .ExcludeFromDescription();
        }

        async Task<IResult> Create(HttpContext http, E2bNewSandbox? body)
        {
            var tenant = http.Tenant();
            body ??= new E2bNewSandbox();
            var template = string.IsNullOrEmpty(body.TemplateId) ? E2bWire.DefaultTemplate : body.TemplateId;
            if (Refusal(body, template) is { } refusal)
            {
                return Error(StatusCodes.Status400BadRequest, refusal);
            }
            var session = await sandboxes.Sessions.CreateAsync(tenant.Id, new SessionCreateOptions
            {
                IdleTimeout = Seconds(body.Timeout),
                Environment = body.EnvVars,
                Metadata = body.Metadata,
            }, http.RequestAborted, tenant.MaxSessions);
            var sandbox = sandboxes.Register(session, tenant, template);
            return TypedResults.Json(Sandbox(sandbox), statusCode: StatusCodes.Status201Created);
        }

        IResult List(HttpContext http, IOptions<BubblewrapOptions> sandboxOptions, string? metadata, string? state)
        {
            var tenant = http.Tenant();
            var wanted = ParseMetadataQuery(metadata);
            // Every sandbox is running; a query for paused ones only finds nothing.
            var states = (state ?? "running").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var listed = !states.Contains("running")
                ? []
                : sandboxes.Sessions.List(tenant.Id)
                    .Where(s => !s.Settings.Metadata.ContainsKey(E2bSandboxes.ContextOfKey))
                    .Where(s => wanted.All(w => s.Settings.Metadata.TryGetValue(w.Key, out var v) && v == w.Value))
                    .Select(s => Listed(s, sandboxes.Registration(s.Id)?.TemplateId, sandboxOptions.Value))
                    .ToList();
            return TypedResults.Json(listed);
        }

        IResult Detail(HttpContext http, string sandboxId, IOptions<BubblewrapOptions> sandboxOptions)
        {
            var tenant = http.Tenant();
            var session = SandboxSession(sandboxes, tenant, sandboxId);
            var registered = sandboxes.Registration(session.Id);
            var listed = Listed(session, registered?.TemplateId, sandboxOptions.Value);
            return TypedResults.Json(new Dictionary<string, object?>
            {
                ["templateID"] = listed.TemplateId,
                ["sandboxID"] = listed.SandboxId,
                ["clientID"] = ClientId,
                ["startedAt"] = listed.StartedAt,
                ["endAt"] = listed.EndAt,
                ["cpuCount"] = listed.CpuCount,
                ["memoryMB"] = listed.MemoryMb,
                ["diskSizeMB"] = listed.DiskSizeMb,
                ["metadata"] = listed.Metadata,
                ["state"] = "running",
                ["envdVersion"] = E2bWire.EnvdVersion,
                ["envdAccessToken"] = registered?.AccessToken,
                ["allowInternetAccess"] = false,
                ["domain"] = null,
            });
        }

        IResult Connect(HttpContext http, string sandboxId, E2bTimeoutBody? body)
        {
            var tenant = http.Tenant();
            var session = SandboxSession(sandboxes, tenant, sandboxId);
            if (Seconds(body?.Timeout) is { } timeout)
            {
                session.SetIdleTimeout(timeout);
            }
            // A session made through REST v1 becomes reachable by the SDK here, with a token of its own.
            var sandbox = sandboxes.Register(session, tenant, E2bWire.DefaultTemplate);
            return TypedResults.Json(Sandbox(sandbox));
        }

        IResult SetTimeout(HttpContext http, string sandboxId, E2bTimeoutBody? body)
        {
            var tenant = http.Tenant();
            var session = SandboxSession(sandboxes, tenant, sandboxId);
            var timeout = Seconds(body?.Timeout) ?? throw new VivariumException(ErrorCodes.InvalidRequest, "'timeout' (seconds) is required");
            session.SetIdleTimeout(timeout);
            if (sandboxes.Find(session.Id) is { } sandbox)
            {
                // E2B's timeout is the sandbox's, so its contexts follow it.
                foreach (var context in sandboxes.Contexts(sandbox))
                {
                    context.SetIdleTimeout(sandboxes.ContextIdleTimeout(timeout));
                }
            }
            return TypedResults.NoContent();
        }

        async Task<IResult> Kill(HttpContext http, string sandboxId)
        {
            var tenant = http.Tenant();
            var session = SandboxSession(sandboxes, tenant, sandboxId);
            if (sandboxes.Find(session.Id) is { } sandbox)
            {
                await sandboxes.KillAsync(sandbox);
            }
            else
            {
                await sandboxes.Sessions.DeleteAsync(tenant.Id, session.Id);
            }
            return TypedResults.NoContent();
        }
    }

    /// <summary>The tenant's session behind a sandbox id; an extra context's id is not a sandbox.</summary>
    private static Session SandboxSession(E2bSandboxes sandboxes, Tenant tenant, string sandboxId)
    {
        var session = sandboxes.Sessions.Get(tenant.Id, sandboxId);
        if (session.Settings.Metadata.ContainsKey(E2bSandboxes.ContextOfKey))
        {
            throw new VivariumException(ErrorCodes.SessionNotFound, $"'{sandboxId}' is a code context, not a sandbox");
        }
        return session;
    }

    /// <summary>Why a create request asks for something this server cannot give, or null.</summary>
    internal static string? Refusal(E2bNewSandbox body, string template)
    {
        if (template is not (E2bWire.DefaultTemplate or "code-interpreter"))
        {
            return $"template '{template}' is not available: every Vivarium sandbox is the Python code interpreter ('{E2bWire.DefaultTemplate}')";
        }
        if (body.AllowInternetAccess == true || IsPresent(body.Network))
        {
            return "Vivarium sandboxes have no network access; leave allowInternetAccess and network unset";
        }
        if (body.AutoPause == true || IsPresent(body.AutoResume))
        {
            return "pausing sandboxes is not supported; leave lifecycle.onTimeout as 'kill'";
        }
        if (IsPresent(body.Mcp))
        {
            return "MCP gateways inside sandboxes are not supported";
        }
        if (IsPresent(body.VolumeMounts))
        {
            return "volumes are not supported";
        }
        return null;
    }

    private static bool IsPresent(JsonElement? element) =>
        element is { } e && e.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) &&
        !(e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0) &&
        !(e.ValueKind == JsonValueKind.Object && !e.EnumerateObject().Any());

    /// <summary>The SDK sends metadata filters as one url-encoded <c>k=v&amp;k2=v2</c> string.</summary>
    internal static Dictionary<string, string> ParseMetadataQuery(string? metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(metadata))
        {
            return result;
        }
        foreach (var pair in metadata.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString((eq < 0 ? pair : pair[..eq]).Replace('+', ' '));
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
            result[key] = value;
        }
        return result;
    }

    private static TimeSpan? Seconds(long? seconds) => seconds switch
    {
        null => null,
        <= 0 => throw new VivariumException(ErrorCodes.InvalidRequest, "'timeout' must be a positive number of seconds"),
        > 100L * 365 * 24 * 3600 => throw new VivariumException(ErrorCodes.InvalidRequest, "'timeout' is out of range"),
        _ => TimeSpan.FromSeconds(seconds.Value),
    };

    private static Dictionary<string, object?> Sandbox(E2bSandbox sandbox) => new()
    {
        ["templateID"] = sandbox.TemplateId,
        ["sandboxID"] = sandbox.Id,
        ["clientID"] = ClientId,
        ["envdVersion"] = E2bWire.EnvdVersion,
        ["envdAccessToken"] = sandbox.AccessToken,
        // The code interpreter's requests carry only this one; the same secret serves both.
        ["trafficAccessToken"] = sandbox.AccessToken,
        ["domain"] = null,
    };

    internal sealed record ListedSandbox(
        [property: JsonPropertyName("templateID")] string TemplateId,
        [property: JsonPropertyName("sandboxID")] string SandboxId,
        [property: JsonPropertyName("clientID")] string ClientId,
        [property: JsonPropertyName("startedAt")] DateTimeOffset StartedAt,
        [property: JsonPropertyName("endAt")] DateTimeOffset EndAt,
        [property: JsonPropertyName("cpuCount")] int CpuCount,
        [property: JsonPropertyName("memoryMB")] long MemoryMb,
        [property: JsonPropertyName("diskSizeMB")] long DiskSizeMb,
        [property: JsonPropertyName("metadata")] IReadOnlyDictionary<string, string> Metadata,
        [property: JsonPropertyName("state")] string State,
        [property: JsonPropertyName("envdVersion")] string EnvdVersion);

    private static ListedSandbox Listed(Session session, string? template, BubblewrapOptions defaults)
    {
        var limits = session.Settings.Limits;
        return new ListedSandbox(
            template ?? E2bWire.DefaultTemplate,
            session.Id,
            ClientId,
            session.CreatedAt,
            session.ExpiresAt,
            (int)Math.Ceiling(limits.CpuCores ?? defaults.CpuCores),
            (limits.MemoryBytes ?? defaults.MemoryLimitBytes) / (1024 * 1024),
            0, // no disk quota per sandbox yet
            session.Settings.Metadata,
            "running",
            E2bWire.EnvdVersion);
    }

    /// <summary>E2B's error body; the SDK reads <c>message</c> and picks its error type from the status.</summary>
    internal static IResult Error(int status, string message) =>
        TypedResults.Json(new Dictionary<string, object> { ["code"] = status, ["message"] = message }, statusCode: status);

    /// <summary>Needs the API key, and answers engine refusals in E2B's shape.</summary>
    private static async ValueTask<object?> Errors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (context.HttpContext.Features.Get<Tenant>() is null)
        {
            return Error(StatusCodes.Status401Unauthorized, "send your Vivarium API key as E2B_API_KEY (the SDK sends it as X-API-Key)");
        }
        try
        {
            return await next(context);
        }
        catch (VivariumException e)
        {
            return Error(ProblemCatalog.StatusOf(e.Code), e.Message);
        }
    }
}
