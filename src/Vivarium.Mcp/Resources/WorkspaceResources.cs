using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine;
using Vivarium.Engine.Files;
using Vivarium.Engine.Sessions;
using Vivarium.Mcp.Tools;

namespace Vivarium.Mcp.Resources;

/// <summary>
/// Workspace files as MCP resources. One template names any file of any of the caller's
/// sessions, so a client can read the files a tool result links to; the list shows the files of
/// the connection's own session (listing every session's files would start nothing but could be
/// slow for a tenant with many). Completion offers session ids and paths for the template.
/// </summary>
internal sealed class WorkspaceResources(McpConnection connection, McpSurface surface)
{
    /// <summary>Files listed past this many would flood a client's resource picker.</summary>
    private const int MaxListed = 500;
    private const int MaxCompletions = 100;

    public static ResourceTemplate FileTemplate { get; } = new()
    {
        Name = "workspace-file",
        Title = "Session workspace file",
        UriTemplate = WorkspaceUri.Template,
        Description = "A file in a Python session's working directory (/home/user): uploaded inputs and what the code wrote. " +
            "Text files are returned as text, others as base64 blobs.",
    };

    public async ValueTask<ListResourcesResult> ListAsync(RequestContext<ListResourcesRequestParams> request, CancellationToken cancellationToken)
    {
        var result = new ListResourcesResult();
        if (connection.OwnSession is not { } session)
        {
            return result;
        }
        try
        {
            foreach (var file in (await session.ListFilesAsync(cancellationToken)).Take(MaxListed))
            {
                result.Resources.Add(new Resource
                {
                    Uri = WorkspaceUri.For(session.Id, file.Path),
                    Name = file.Path,
                    Title = $"/home/user/{file.Path}",
                    Description = $"A file of Python session {session.Id}",
                    MimeType = WorkspaceUri.MimeType(file.Path),
                    Size = file.Size,
                });
            }
        }
        catch (VivariumException e) when (e.Code == ErrorCodes.SessionNotFound)
        {
            // It ended while being listed: it has no files any more.
        }
        return result;
    }

    public ValueTask<ListResourceTemplatesResult> ListTemplatesAsync(RequestContext<ListResourceTemplatesRequestParams> request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new ListResourceTemplatesResult { ResourceTemplates = [FileTemplate] });

    public async ValueTask<ReadResourceResult> ReadAsync(RequestContext<ReadResourceRequestParams> request, CancellationToken cancellationToken)
    {
        var uri = request.Params?.Uri;
        if (!WorkspaceUri.TryParse(uri, out var sessionId, out var rawPath))
        {
            throw new McpProtocolException($"Unknown resource URI '{uri}': workspace files are named {WorkspaceUri.Template}", McpErrorCode.ResourceNotFound);
        }
        try
        {
            var path = WorkspacePath.Normalize(rawPath);
            var file = await WorkspaceFileContent.ReadAsync(connection.Named(sessionId), path, surface.Options.MaxFileBytes, cancellationToken);
            ResourceContents contents = file.Text is { } text
                ? new TextResourceContents { Uri = uri!, MimeType = file.MimeType, Text = text }
                : BlobResourceContents.FromBytes(file.Bytes, uri!, file.MimeType);
            return new ReadResourceResult { Contents = [contents] };
        }
        catch (ToolException e)
        {
            throw new McpProtocolException(e.Message, McpErrorCode.ResourceNotFound);
        }
        catch (VivariumException e) when (e.Code is ErrorCodes.FileNotFound or ErrorCodes.SessionNotFound or ErrorCodes.InvalidPath)
        {
            throw new McpProtocolException(VivariumTool.Explain(e), McpErrorCode.ResourceNotFound);
        }
        catch (VivariumException e)
        {
            throw new McpProtocolException(VivariumTool.Explain(e), McpErrorCode.InternalError);
        }
    }

    /// <summary>
    /// Completes the template's arguments: <c>session_id</c> from the caller's sessions, <c>path</c>
    /// from the named (or own) session's files. Anything else gets an empty list, which the
    /// protocol allows.
    /// </summary>
    public async ValueTask<CompleteResult> CompleteAsync(RequestContext<CompleteRequestParams> request, CancellationToken cancellationToken)
    {
        var result = new CompleteResult();
        if (request.Params is not { Ref: ResourceTemplateReference { Uri: WorkspaceUri.Template } } parameters)
        {
            return result;
        }
        var typed = parameters.Argument.Value ?? "";
        IEnumerable<string> candidates;
        switch (parameters.Argument.Name)
        {
            case "session_id":
                candidates = surface.Sessions.List(connection.Caller.TenantId).Select(s => s.Id);
                break;
            case "path":
                Session? session;
                try
                {
                    session = parameters.Context?.Arguments?.TryGetValue("session_id", out var named) == true && !string.IsNullOrEmpty(named)
                        ? connection.Named(named)
                        : connection.OwnSession;
                }
                catch (ToolException)
                {
                    return result;
                }
                if (session is null)
                {
                    return result;
                }
                candidates = (await session.ListFilesAsync(cancellationToken)).Select(f => f.Path);
                break;
            default:
                return result;
        }
        var matches = candidates.Where(c => c.StartsWith(typed, StringComparison.Ordinal)).ToList();
        foreach (var match in matches.Take(MaxCompletions))
        {
            result.Completion.Values.Add(match);
        }
        result.Completion.Total = matches.Count;
        result.Completion.HasMore = matches.Count > MaxCompletions;
        return result;
    }
}
