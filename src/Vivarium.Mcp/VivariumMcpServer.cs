using System.Reflection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Mcp.Resources;
using Vivarium.Mcp.Tools;

namespace Vivarium.Mcp;

/// <summary>
/// Vivarium as an MCP server: the same tools and resources on every transport, each set bound
/// to one <see cref="McpConnection"/> (its tenant and its session).
/// </summary>
public static class VivariumMcpServer
{
    /// <summary>The name clients see in <c>serverInfo</c>.</summary>
    public const string ServerName = "vivarium";

    /// <summary>
    /// Serves MCP on this process's stdin and stdout until the client closes stdin or
    /// <paramref name="cancellationToken"/> fires. One Python session for the whole process, started
    /// on first use and ended on return. Nothing else may write to stdout meanwhile: it is the channel.
    /// </summary>
    /// <param name="services">A host's services with the engine (<c>AddVivariumEngine</c>) started.</param>
    /// <param name="caller">The tenant the sessions belong to.</param>
    /// <param name="cancellationToken">Stops serving (e.g. SIGTERM).</param>
    public static async Task RunStdioAsync(IServiceProvider services, McpCaller caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(caller);
        var surface = McpSurface.From(services);
        var loggers = (ILoggerFactory?)services.GetService(typeof(ILoggerFactory));
        await using var connection = new McpConnection(surface.Sessions, caller, endsWithConnection: true);
        var options = Configure(new McpServerOptions(), connection, surface);
        await using var transport = new StdioServerTransport(options, loggers);
        await using var server = McpServer.Create(transport, options, loggers, services);
        try
        {
            await server.RunAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Asked to stop: the connection's session is ended below, as on a normal close.
        }
    }

    /// <summary>Fills per-connection server options: identity, instructions, tools, resources and completion.</summary>
    internal static McpServerOptions Configure(McpServerOptions options, McpConnection connection, McpSurface surface)
    {
        options.ServerInfo = new Implementation
        {
            Name = ServerName,
            Title = "Vivarium code interpreter",
            Version = typeof(VivariumMcpServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0",
        };
        options.ServerInstructions = ToolText.Instructions(surface.Facts);
        options.ToolCollection =
        [
            new ExecutePythonTool(connection, surface),
            new UploadFileTool(connection, surface),
            new ListFilesTool(connection, surface),
            new ReadFileTool(connection, surface),
            new RestartSessionTool(connection, surface),
        ];
        var resources = new WorkspaceResources(connection, surface);
        options.Handlers.ListResourcesHandler = resources.ListAsync;
        options.Handlers.ListResourceTemplatesHandler = resources.ListTemplatesAsync;
        options.Handlers.ReadResourceHandler = resources.ReadAsync;
        options.Handlers.CompleteHandler = resources.CompleteAsync;
        return options;
    }
}
