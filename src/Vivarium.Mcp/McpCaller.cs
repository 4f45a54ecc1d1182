namespace Vivarium.Mcp;

/// <summary>
/// Who is calling, as the host resolved it (over HTTP, from the API key; on stdio, the local
/// user). Sessions are created for and looked up in this tenant only.
/// </summary>
/// <param name="TenantId">The tenant; never another tenant's sessions.</param>
/// <param name="MaxSessions">The tenant's own session quota, when its key sets one.</param>
/// <param name="AdmitExecution">
/// Takes one execution from the tenant's rate budget before code runs: null when admitted, else
/// how long to wait. Null (stdio, the local user) means no rate limit.
/// </param>
public sealed record McpCaller(string TenantId, int? MaxSessions = null, Func<TimeSpan?>? AdmitExecution = null);
