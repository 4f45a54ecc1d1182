using System.Text;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine.Files;
using Vivarium.Mcp.Resources;

namespace Vivarium.Mcp.Tools;

/// <summary><c>upload_file(path, text | content_base64, session_id?)</c>: puts a file into the workspace.</summary>
internal sealed class UploadFileTool(McpConnection connection, McpSurface surface) : VivariumTool(connection, surface)
{
    protected override string Name => "upload_file";

    protected override string Title => "Upload a file";

    protected override string Description => ToolText.UploadFile + $" At most {SandboxFacts.Size(Surface.Options.MaxFileBytes)}.";

    protected override IReadOnlyList<string> Arguments { get; } = ["path", "text", "content_base64", "session_id"];

    protected override ToolAnnotations Annotations { get; } = new()
    {
        Title = "Upload a file",
        ReadOnlyHint = false,
        // It replaces a file of the same name.
        DestructiveHint = true,
        IdempotentHint = true,
        OpenWorldHint = false,
    };

    protected override JsonObject InputSchema => ObjectSchema(["path"],
        ("path", StringSchema("Where to put the file, relative to /home/user, e.g. 'data/sales.csv'.")),
        ("text", StringSchema("The content as text (stored as UTF-8). Use this or content_base64.")),
        ("content_base64", StringSchema("The content as base64, for binary files. Use this or text.")),
        SessionIdProperty);

    protected override async ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var path = WorkspacePath.Normalize(arguments.RequiredString("path", "where to put the file, relative to /home/user"));
        var text = arguments.Has("text") ? arguments.RequiredString("text", "the content as text") : null;
        var base64 = arguments.Has("content_base64") ? arguments.RequiredString("content_base64", "the content as base64") : null;
        var content = (text, base64) switch
        {
            (null, null) => throw new ToolException("upload_file: give the content as 'text' or as 'content_base64'"),
            ({ }, { }) => throw new ToolException("upload_file: give either 'text' or 'content_base64', not both"),
            ({ } t, null) => Checked(Encoding.UTF8.GetByteCount(t), () => Encoding.UTF8.GetBytes(t)),
            (null, { } b) => Checked(b.Length / 4L * 3, () => Decode(b)),
        };
        var choice = await Connection.GetOrStartAsync(arguments.OptionalString("session_id"), cancellationToken);
        var written = await choice.Session.WriteFileAsync(path, content, cancellationToken);
        return new CallToolResult
        {
            Content =
            [
                new TextContentBlock
                {
                    Text = $"Wrote /home/user/{written.Path} ({SandboxFacts.Size(written.Size)}). In Python, open it as '{written.Path}'.",
                },
                new ResourceLinkBlock
                {
                    Uri = WorkspaceUri.For(choice.Session.Id, written.Path),
                    Name = written.Path,
                    MimeType = WorkspaceUri.MimeType(written.Path),
                    Size = written.Size,
                },
            ],
        };
    }

    /// <summary>Refuses content over the limit before it is decoded or sent anywhere.</summary>
    private byte[] Checked(long size, Func<byte[]> bytes)
    {
        var limit = Surface.Options.MaxFileBytes;
        if (size > limit + 2)
        {
            throw new ToolException($"upload_file: the content is about {SandboxFacts.Size(size)}, over the limit of {SandboxFacts.Size(limit)} per file");
        }
        var result = bytes();
        if (result.LongLength > limit)
        {
            throw new ToolException($"upload_file: the content is {SandboxFacts.Size(result.LongLength)}, over the limit of {SandboxFacts.Size(limit)} per file");
        }
        return result;
    }

    private static byte[] Decode(string base64)
    {
        try
        {
            return Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            throw new ToolException("upload_file: 'content_base64' is not valid base64 (standard alphabet A-Z a-z 0-9 + /, padded with =); for text, pass it as 'text' instead");
        }
    }
}
