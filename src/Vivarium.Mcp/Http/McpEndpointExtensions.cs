using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Server;
using Vivarium.Mcp.Http;

namespace Vivarium.Mcp;

/// <summary>
/// MCP over Streamable HTTP: one Python session per MCP session (stateful transport), started
/// on first use and ended with the MCP session (DELETE, idle timeout, shutdown). Tenancy comes
/// from the host's authentication, through the resolver given to <see cref="MapVivariumMcp"/>.
/// </summary>
public static class McpEndpointExtensions
{
    private const string SessionIdHeader = "Mcp-Session-Id";
    private static readonly object ConnectionKey = new();

    /// <summary>
    /// Registers the MCP server and its HTTP transport, with options from <c>Vivarium:Mcp</c>.
    /// Needs the engine (<c>AddVivariumEngine</c>).
    /// </summary>
    public static IServiceCollection AddVivariumMcp(this IServiceCollection services)
    {
        services.AddOptions<McpOptions>().BindConfiguration(McpOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(sp => McpSurface.From(sp));
        services.TryAddSingleton(sp => new HostFilter(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddMcpServer().WithHttpTransport();
        services.AddOptions<HttpServerTransportOptions>().Configure<IOptions<McpOptions>>((http, mcp) =>
        {
            http.SessionMode = mcp.Value.ServeSessionlessClients ? HttpServerSessionMode.StatefulForInitializeClients : HttpServerSessionMode.Stateful;
#pragma warning disable MCP9006 // Stateful HTTP is obsolete for the 2026-07-28 revision, and exactly what binds a Python session to an MCP session.
            http.IdleTimeout = mcp.Value.IdleTimeout;
#pragma warning restore MCP9006
            http.ConfigureSessionOptions = (context, options, _) =>
            {
                ConfigureConnection(context, options);
                return Task.CompletedTask;
            };
#pragma warning disable MCPEXP002 // The one hook that runs when an MCP session ends, which must end its Python session.
            http.RunSessionHandler = RunSessionAsync;
#pragma warning restore MCPEXP002
        });
        return services;
    }

    /// <summary>
    /// Maps the MCP endpoint (POST, GET and DELETE at <paramref name="pattern"/>), refusing hosts
    /// that are not allowed (403). Add the host's authorization to the returned builder; its
    /// principal needs a name-identifier claim (the tenant), to which the SDK binds each MCP
    /// session so no other tenant can use it.
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="pattern">The route, e.g. <c>/mcp</c>.</param>
    /// <param name="caller">The caller of an authenticated request (its tenant); null when there is none.</param>
    public static IEndpointConventionBuilder MapVivariumMcp(this IEndpointRouteBuilder endpoints, string pattern, Func<HttpContext, McpCaller?> caller)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(caller);
        var hosts = endpoints.ServiceProvider.GetRequiredService<HostFilter>();
        var group = endpoints.MapGroup(pattern);
        group.WithMetadata(new CallerResolver(caller));
        // The SDK maps plain request delegates, which endpoint filters do not reach: wrap them.
        ((IEndpointConventionBuilder)group).Add(endpoint =>
        {
            var inner = endpoint.RequestDelegate ?? throw new InvalidOperationException("an MCP endpoint without a request delegate");
            endpoint.RequestDelegate = context => GuardAsync(context, inner, hosts);
        });
        group.MapMcp();
        return group;
    }

    private static async Task GuardAsync(HttpContext context, RequestDelegate inner, HostFilter hosts)
    {
        if (hosts.Refusal(context.Request) is { } refusal)
        {
            await WriteErrorAsync(context, StatusCodes.Status403Forbidden, $"Forbidden: {refusal}");
            return;
        }
        await inner(context);
    }

    private static void ConfigureConnection(HttpContext context, McpServerOptions options)
    {
        var caller = context.GetEndpoint()?.Metadata.GetMetadata<CallerResolver>()?.Resolve(context)
            ?? throw new InvalidOperationException("an MCP request without a caller: map the endpoint with MapVivariumMcp and require authorization");
        var surface = context.RequestServices.GetRequiredService<McpSurface>();
        // The SDK sets the header before configuring a new stateful session; a request of a client
        // without HTTP sessions has none, and its connection lives only as long as the request.
        string? sessionId = context.Response.Headers[SessionIdHeader];
        var connection = new McpConnection(surface.Sessions, caller, endsWithConnection: !string.IsNullOrEmpty(sessionId));
        VivariumMcpServer.Configure(options, connection, surface);
        context.Items[ConnectionKey] = connection;
    }

    private static async Task RunSessionAsync(HttpContext context, McpServer server, CancellationToken cancellationToken)
    {
        var connection = context.Items[ConnectionKey] as McpConnection;
        try
        {
            await server.RunAsync(cancellationToken);
        }
        finally
        {
            // The MCP session ended (DELETE, idle timeout, shutdown) or the sessionless request is done.
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteString("jsonrpc", "2.0");
        writer.WriteNull("id");
        writer.WriteStartObject("error");
        writer.WriteNumber("code", -32000);
        writer.WriteString("message", message);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Endpoint metadata: how the endpoint's requests name their caller.</summary>
    private sealed record CallerResolver(Func<HttpContext, McpCaller?> Resolve);
}
