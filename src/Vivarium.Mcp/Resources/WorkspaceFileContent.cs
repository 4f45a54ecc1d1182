using System.Text;
using Vivarium.Engine.Sessions;
using Vivarium.Mcp.Tools;

namespace Vivarium.Mcp.Resources;

/// <summary>A workspace file read for a client: its bytes, its MIME type, and its text when it is UTF-8 text.</summary>
/// <param name="Bytes">The content.</param>
/// <param name="MimeType">From the extension.</param>
/// <param name="Text">The content as text, or null for binary content.</param>
internal sealed record WorkspaceFileContent(byte[] Bytes, string MimeType, string? Text)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a file, refusing one too large to send inside a JSON-RPC message.</summary>
    /// <exception cref="ToolException">Over <paramref name="maxBytes"/>.</exception>
    /// <exception cref="Engine.VivariumException">invalid_path, file_not_found.</exception>
    public static async Task<WorkspaceFileContent> ReadAsync(Session session, string path, long maxBytes, CancellationToken cancellationToken)
    {
        var bytes = await session.ReadFileAsync(path, cancellationToken);
        if (bytes.LongLength > maxBytes)
        {
            throw new ToolException($"path: '{path}' is {SandboxFacts.Size(bytes.LongLength)}, over the limit of {SandboxFacts.Size(maxBytes)} " +
                "that can be returned over MCP; have Python summarise it (df.head(), df.describe()) or write a smaller file");
        }
        var mimeType = WorkspaceUri.MimeType(path);
        return new WorkspaceFileContent(bytes, mimeType, AsText(bytes, mimeType));
    }

    /// <summary>Text when the bytes are valid UTF-8 without NUL bytes and the type is not a known binary one.</summary>
    private static string? AsText(byte[] bytes, string mimeType)
    {
        if (mimeType.StartsWith("image/", StringComparison.Ordinal) && mimeType != "image/svg+xml")
        {
            return null;
        }
        if (mimeType is "application/pdf" or "application/zip" or "application/vnd.apache.parquet" or "application/vnd.ms-excel"
            || mimeType.StartsWith("application/vnd.openxmlformats", StringComparison.Ordinal)
            || Array.IndexOf(bytes, (byte)0) >= 0)
        {
            return null;
        }
        try
        {
            var text = StrictUtf8.GetString(bytes);
            return text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
