using System.Diagnostics.CodeAnalysis;

namespace Vivarium.Mcp.Resources;

/// <summary>
/// Names a workspace file as an MCP resource: <c>vivarium://sessions/{session_id}/files/{+path}</c>.
/// Each path segment is percent-encoded, so a file name with spaces, <c>#</c> or <c>?</c> still
/// round-trips, while the slashes between folders stay readable.
/// </summary>
internal static class WorkspaceUri
{
    public const string Scheme = "vivarium";
    private const string Prefix = "vivarium://sessions/";
    private const string FilesSegment = "/files/";

    /// <summary>The URI template clients list (RFC 6570; <c>{+path}</c> may contain slashes).</summary>
    public const string Template = "vivarium://sessions/{session_id}/files/{+path}";

    /// <summary>The URI of a file of a session.</summary>
    public static string For(string sessionId, string path) =>
        Prefix + Uri.EscapeDataString(sessionId) + FilesSegment + string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    /// <summary>Splits a URI into its session id and workspace path (not yet checked against the workspace rules).</summary>
    public static bool TryParse(string? uri, [NotNullWhen(true)] out string? sessionId, [NotNullWhen(true)] out string? path)
    {
        sessionId = null;
        path = null;
        if (uri is null || !uri.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = uri.AsSpan(Prefix.Length);
        var files = rest.IndexOf(FilesSegment, StringComparison.Ordinal);
        if (files <= 0 || files + FilesSegment.Length >= rest.Length)
        {
            return false;
        }
        sessionId = Uri.UnescapeDataString(rest[..files].ToString());
        path = Uri.UnescapeDataString(rest[(files + FilesSegment.Length)..].ToString());
        return sessionId.Length > 0 && path.Length > 0;
    }

    /// <summary>A MIME type from the file's extension, for clients that decide how to show it.</summary>
    public static string MimeType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".txt" or ".log" => "text/plain",
        ".md" => "text/markdown",
        ".csv" => "text/csv",
        ".tsv" => "text/tab-separated-values",
        ".json" => "application/json",
        ".html" or ".htm" => "text/html",
        ".xml" => "application/xml",
        ".py" => "text/x-python",
        ".yaml" or ".yml" => "application/yaml",
        ".png" => "image/png",
        ".jpg" or ".jpeg" => "image/jpeg",
        ".gif" => "image/gif",
        ".svg" => "image/svg+xml",
        ".webp" => "image/webp",
        ".pdf" => "application/pdf",
        ".xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".xls" => "application/vnd.ms-excel",
        ".parquet" => "application/vnd.apache.parquet",
        ".zip" => "application/zip",
        _ => "application/octet-stream",
    };
}
