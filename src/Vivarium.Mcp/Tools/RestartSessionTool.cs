using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine.Sessions;

namespace Vivarium.Mcp.Tools;

/// <summary><c>restart_session(session_id?)</c>: a fresh interpreter on the same workspace.</summary>
internal sealed class RestartSessionTool(McpConnection connection, McpSurface surface) : VivariumTool(connection, surface)
{
    protected override string Name => "restart_session";

    protected override string Title => "Restart Python";

    protected override string Description => ToolText.RestartSession;

    protected override IReadOnlyList<string> Arguments { get; } = ["session_id"];

    protected override ToolAnnotations Annotations { get; } = new()
    {
        Title = "Restart Python",
        ReadOnlyHint = false,
        // Every variable goes.
        DestructiveHint = true,
        IdempotentHint = true,
        OpenWorldHint = false,
    };

    protected override JsonObject InputSchema => ObjectSchema([], SessionIdProperty);

    protected override async ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        if (Connection.Existing(arguments.OptionalString("session_id")) is not { } session)
        {
            return Text("Nothing to restart: this connection has not started a Python session yet; the next execute_python starts a fresh one.");
        }
        if (session.Status == SessionStatus.Busy)
        {
            // Restarting under running code would report it as crashed; cancelling the call interrupts it cleanly.
            throw new ToolException($"restart_session: session {session.Id} is running code; cancel that call (or wait for it) first");
        }
        await session.RestartAsync(cancellationToken);
        return Text($"Restarted session {session.Id}: a fresh Python interpreter. Variables and imports are gone; files in /home/user are kept.");
    }
}
