using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine.Files;
using Vivarium.Mcp.Resources;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// <c>read_file(path, session_id?)</c>: a UTF-8 text file as text, anything else as an embedded
/// blob resource (and an image also as an image block, so the model can look at it).
/// </summary>
internal sealed class ReadFileTool(McpConnection connection, McpSurface surface) : VivariumTool(connection, surface)
{
    protected override string Name => "read_file";

    protected override string Title => "Read a file";

    protected override string Description => ToolText.ReadFile + $" At most {SandboxFacts.Size(Surface.Options.MaxFileBytes)}.";

    protected override IReadOnlyList<string> Arguments { get; } = ["path", "session_id"];

    protected override ToolAnnotations Annotations { get; } = new()
    {
        Title = "Read a file",
        ReadOnlyHint = true,
        IdempotentHint = true,
        OpenWorldHint = false,
    };

    protected override JsonObject InputSchema => ObjectSchema(["path"],
        ("path", StringSchema("The file, relative to /home/user (e.g. 'out.csv'), or absolute inside it.")),
        SessionIdProperty);

    protected override async ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var path = WorkspacePath.Normalize(arguments.RequiredString("path", "the file to read, relative to /home/user"));
        if (Connection.Existing(arguments.OptionalString("session_id")) is not { } session)
        {
            throw new ToolException($"path: '{path}' does not exist: this connection has not started a Python session yet, so /home/user is empty");
        }
        var file = await WorkspaceFileContent.ReadAsync(session, path, Surface.Options.MaxFileBytes, cancellationToken);
        var uri = WorkspaceUri.For(session.Id, path);
        if (file.Text is { } text)
        {
            return Text(text);
        }
        var content = new List<ContentBlock>();
        if (file.MimeType is "image/png" or "image/jpeg" or "image/gif" or "image/webp")
        {
            content.Add(ImageContentBlock.FromBytes(file.Bytes, file.MimeType));
        }
        content.Add(new EmbeddedResourceBlock { Resource = BlobResourceContents.FromBytes(file.Bytes, uri, file.MimeType) });
        return new CallToolResult { Content = content };
    }
}
