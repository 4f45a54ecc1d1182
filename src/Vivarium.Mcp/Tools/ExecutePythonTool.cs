using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine.Executions;
using Vivarium.Mcp.Resources;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// <c>execute_python(code, session_id?, timeout_seconds?)</c>: runs code in the connection's
/// session. The result is the execution's summary (written for a model) as text, every chart
/// as a PNG image block and every produced file as a resource link. A Python error is a tool
/// result with <c>isError: true</c>, not a protocol error: the model should read it and retry.
/// </summary>
internal sealed class ExecutePythonTool(McpConnection connection, McpSurface surface) : VivariumTool(connection, surface)
{
    public const string ToolName = "execute_python";

    /// <summary>Keys of the result's <c>_meta</c>, for clients and tests that want the ids.</summary>
    public const string SessionIdMeta = "vivarium.dev/session_id";
    public const string ExecutionIdMeta = "vivarium.dev/execution_id";
    public const string StatusMeta = "vivarium.dev/status";

    private static readonly string[] ImageTypes = ["image/png", "image/jpeg"];

    protected override string Name => ToolName;

    protected override string Title => "Run Python";

    protected override string Description => ToolText.ExecutePython(Surface.Facts);

    protected override IReadOnlyList<string> Arguments { get; } = ["code", "session_id", "timeout_seconds"];

    protected override ToolAnnotations Annotations { get; } = new()
    {
        Title = "Run Python",
        ReadOnlyHint = false,
        DestructiveHint = false,
        IdempotentHint = false,
        // A closed world: the sandbox has no network.
        OpenWorldHint = false,
    };

    protected override JsonObject InputSchema => ObjectSchema(["code"],
        ("code", StringSchema("The Python code to run, as in a notebook cell: statements, then optionally an expression whose value is shown.")),
        SessionIdProperty,
        ("timeout_seconds", new JsonObject
        {
            ["type"] = "number",
            ["exclusiveMinimum"] = 0,
            ["maximum"] = Surface.Facts.MaxTimeout.TotalSeconds,
            ["description"] = $"Interrupt the code after this many seconds (default {Surface.Facts.DefaultTimeout.TotalSeconds:0}). Variables defined before the interrupt are kept.",
        }));

    protected override async ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var code = arguments.RequiredString("code", "the Python source to run");
        var sessionId = arguments.OptionalString("session_id");
        var seconds = arguments.OptionalNumber("timeout_seconds", 0.1, Surface.Facts.MaxTimeout.TotalSeconds);

        if (Connection.Caller.AdmitExecution?.Invoke() is { } wait)
        {
            throw new ToolException($"Rate limit: this API key has run as many executions as it may this minute. " +
                $"Try again in {Math.Max(1, Math.Ceiling(wait.TotalSeconds)):0} s; nothing was run.");
        }
        var choice = await Connection.GetOrStartAsync(sessionId, cancellationToken);
        await Connection.ExecutionGate.WaitAsync(cancellationToken);
        try
        {
            // The request's token goes to the engine: when the client cancels the call
            // (notifications/cancelled) or goes away, the code is interrupted and the state kept.
            var running = choice.Session.Start(new ExecuteRequest(code, seconds is { } s ? TimeSpan.FromSeconds(s) : null), cancellationToken);
            await using (var progress = ExecutionProgress.Start(request, Surface.Options.ProgressInterval))
            {
                // Read to the end whatever happens: leaving early would interrupt the code.
                await foreach (var item in running.ReadEventsAsync(CancellationToken.None))
                {
                    if (item is ExecutionOutputEvent output)
                    {
                        progress?.Report(output.Output);
                    }
                }
            }
            return Build(await running.Completion, choice);
        }
        finally
        {
            Connection.ExecutionGate.Release();
        }
    }

    private CallToolResult Build(Execution execution, SessionChoice choice)
    {
        var sessionId = choice.Session.Id;
        var text = execution.Summary;
        if (choice.Replaced)
        {
            text = "Note: this connection's earlier Python session had ended (unused for too long), so this ran in a fresh one: " +
                "variables and files from before are gone.\n\n" + text;
        }
        else if (choice.Started && !Connection.EndsWithConnection)
        {
            text = $"Note: started Python session {sessionId} for this call. Pass session_id=\"{sessionId}\" in later calls to keep its variables and files " +
                $"(it ends after {SandboxFacts.Duration(Surface.Facts.IdleTimeout)} unused).\n\n" + text;
        }
        var content = new List<ContentBlock> { new TextContentBlock { Text = text } };
        foreach (var output in execution.Outputs)
        {
            var data = output switch
            {
                DisplayDataOutput display => display.Data,
                ExecuteResultOutput result => result.Data,
                _ => null,
            };
            if (data is not null && Image(data) is { } image)
            {
                content.Add(image);
            }
        }
        foreach (var file in execution.Files.Where(f => f.Change != "deleted"))
        {
            content.Add(new ResourceLinkBlock
            {
                Uri = WorkspaceUri.For(sessionId, file.Path),
                Name = file.Path,
                Title = $"/home/user/{file.Path}",
                Description = $"{file.Change} by this execution",
                MimeType = WorkspaceUri.MimeType(file.Path),
                Size = file.Size,
            });
        }
        return new CallToolResult
        {
            IsError = execution.Status != ExecutionStatus.Ok,
            Content = content,
            Meta = new JsonObject
            {
                [SessionIdMeta] = sessionId,
                [ExecutionIdMeta] = execution.Id,
                [StatusMeta] = StatusName(execution.Status),
            },
        };
    }

    /// <summary>The status as the REST API spells it.</summary>
    private static string StatusName(ExecutionStatus status) => status switch
    {
        ExecutionStatus.Ok => "ok",
        ExecutionStatus.Error => "error",
        ExecutionStatus.Timeout => "timeout",
        ExecutionStatus.Interrupted => "interrupted",
        _ => "crashed",
    };

    /// <summary>The first image type present, decoded (and so checked) before it goes to the client.</summary>
    private static ImageContentBlock? Image(IReadOnlyDictionary<string, JsonElement> data)
    {
        foreach (var type in ImageTypes)
        {
            if (data.TryGetValue(type, out var value) && value.ValueKind == JsonValueKind.String)
            {
                var base64 = value.GetString()!;
                var buffer = new byte[base64.Length / 4 * 3 + 3];
                if (Convert.TryFromBase64String(base64, buffer, out var written))
                {
                    return ImageContentBlock.FromBytes(buffer.AsMemory(0, written), type);
                }
            }
        }
        return null;
    }
}
