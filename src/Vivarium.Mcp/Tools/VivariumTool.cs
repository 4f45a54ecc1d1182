using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// A tool of one connection. Written against the SDK's <see cref="McpServerTool"/> rather than
/// its attribute binding, so that every problem with a call (bad arguments, engine refusals)
/// becomes a tool result with <c>isError: true</c> and a message naming the argument and the
/// rule: the SDK's binder would answer with a generic text the model cannot act on.
/// </summary>
internal abstract class VivariumTool : McpServerTool
{
    private readonly Lazy<Tool> _tool;

    protected VivariumTool(McpConnection connection, McpSurface surface)
    {
        Connection = connection;
        Surface = surface;
        _tool = new Lazy<Tool>(() => new Tool
        {
            Name = Name,
            Title = Title,
            Description = Description,
            InputSchema = JsonDocument.Parse(InputSchema.ToJsonString()).RootElement.Clone(),
            Annotations = Annotations,
        });
    }

    protected McpConnection Connection { get; }

    protected McpSurface Surface { get; }

    /// <summary>The tool's name, as the model calls it.</summary>
    protected abstract string Name { get; }

    /// <summary>A title for people.</summary>
    protected abstract string Title { get; }

    /// <summary>What the model reads about the tool.</summary>
    protected abstract string Description { get; }

    /// <summary>The JSON Schema of the arguments.</summary>
    protected abstract JsonObject InputSchema { get; }

    /// <summary>The argument names accepted; others are refused.</summary>
    protected abstract IReadOnlyList<string> Arguments { get; }

    /// <summary>Hints for clients (read-only, destructive…).</summary>
    protected abstract ToolAnnotations Annotations { get; }

    /// <inheritdoc />
    public override Tool ProtocolTool => _tool.Value;

    /// <inheritdoc />
    public override IReadOnlyList<object> Metadata => [];

    /// <inheritdoc />
    public sealed override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        try
        {
            var arguments = new ToolArguments(Name, request.Params?.Arguments, Arguments);
            return await RunAsync(arguments, request, cancellationToken);
        }
        catch (ToolException e)
        {
            return Failure(e.Message);
        }
        catch (VivariumException e)
        {
            return Failure(Explain(e));
        }
        catch (ObjectDisposedException)
        {
            return Failure("the connection is closing; its session has ended");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not the model's fault and nothing it can fix; logged for the operator, said plainly.
            Surface.Logger.LogError(e, "MCP tool {Tool} failed", Name);
            return Failure($"{Name} failed inside Vivarium ({e.GetType().Name}); try again, and if it persists, tell the operator");
        }
    }

    /// <summary>The tool's work, with its arguments ready to read.</summary>
    protected abstract ValueTask<CallToolResult> RunAsync(ToolArguments arguments, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken);

    /// <summary>An object schema that refuses unknown arguments, as <see cref="ToolArguments"/> does.</summary>
    protected static JsonObject ObjectSchema(IEnumerable<string> required, params (string Name, JsonObject Schema)[] properties)
    {
        var props = new JsonObject();
        foreach (var (name, schema) in properties)
        {
            props[name] = schema;
        }
        return new JsonObject
        {
            ["type"] = "object",
            ["properties"] = props,
            ["required"] = new JsonArray(required.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray()),
            ["additionalProperties"] = false,
        };
    }

    /// <summary>A string property.</summary>
    protected static JsonObject StringSchema(string description) => new() { ["type"] = "string", ["description"] = description };

    /// <summary>The optional <c>session_id</c> every tool takes.</summary>
    protected static (string, JsonObject) SessionIdProperty => ("session_id", StringSchema(ToolText.SessionIdArgument));

    /// <summary>A result the model should treat as a failure.</summary>
    protected static CallToolResult Failure(string text) => new()
    {
        IsError = true,
        Content = [new TextContentBlock { Text = text }],
    };

    /// <summary>A plain text result.</summary>
    protected static CallToolResult Text(string text) => new()
    {
        Content = [new TextContentBlock { Text = text }],
    };

    /// <summary>An engine refusal, with its stable code and what to do about it.</summary>
    internal static string Explain(VivariumException e) => e.Code switch
    {
        ErrorCodes.InvalidPath => $"path: {e.Message}. Paths are relative to the working directory /home/user (an absolute path must be inside it).",
        ErrorCodes.FileNotFound => $"path: {e.Message}. Call list_files to see which files exist.",
        ErrorCodes.SessionBusy => $"session_busy: {e.Message}. Over MCP, wait for the running call to return or cancel it (cancelling interrupts the code and keeps the state).",
        ErrorCodes.SessionNotFound => $"session_not_found: {e.Message}. Leave session_id out to use this connection's own session (started if needed).",
        _ => $"{e.Code}: {e.Message}",
    };
}
