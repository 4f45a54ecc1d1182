using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Mcp.Resources;

namespace Vivarium.Mcp.Tools;

/// <summary><c>list_files(session_id?)</c>: the workspace's files with sizes, and a resource link for each.</summary>
internal sealed class ListFilesTool(McpConnection connection, McpSurface surface) : VivariumTool(connection, surface)
{
    /// <summary>Resource links past this many would only flood the client; the text still names every file.</summary>
    private const int MaxLinks = 100;

    protected override string Name => "list_files";

    protected override string Title => "List files";

    protected override string Description => ToolText.ListFiles;

    protected override IReadOnlyList<string> Arguments { get; } = ["session_id"];

    protected override ToolAnnotations Annotations { get; } = new()
    {
        Title = "List files",
        ReadOnlyHint = true,
        IdempotentHint = true,
        OpenWorldHint = false,
    };

    protected override JsonObject InputSchema => ObjectSchema([], SessionIdProperty);

    protected override async ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        // Listing does not start a session: an empty answer is the truth when there is none.
        if (Connection.Existing(arguments.OptionalString("session_id")) is not { } session)
        {
            return Text("No files: this connection has not started a Python session yet (execute_python or upload_file starts one). The working directory is /home/user.");
        }
        var files = await session.ListFilesAsync(cancellationToken);
        if (files.Count == 0)
        {
            return Text("No files in /home/user yet.");
        }
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{files.Count} file{(files.Count == 1 ? "" : "s")} in /home/user:\n");
        foreach (var file in files)
        {
            text.Append(CultureInfo.InvariantCulture, $"{file.Path}  {SandboxFacts.Size(file.Size)}");
            if (file.ModifiedAt is { } modified)
            {
                text.Append(CultureInfo.InvariantCulture, $"  modified {modified:yyyy-MM-dd HH:mm:ss}Z");
            }
            text.Append('\n');
        }
        var content = new List<ContentBlock> { new TextContentBlock { Text = text.ToString().TrimEnd() } };
        content.AddRange(files.Take(MaxLinks).Select(file => new ResourceLinkBlock
        {
            Uri = WorkspaceUri.For(session.Id, file.Path),
            Name = file.Path,
            MimeType = WorkspaceUri.MimeType(file.Path),
            Size = file.Size,
        }));
        return new CallToolResult { Content = content };
    }
}
