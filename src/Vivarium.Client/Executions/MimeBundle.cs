using System.Text.Json;

namespace Vivarium.Client;

/// <summary>Reads values out of a Jupyter MIME bundle (MIME type → JSON value).</summary>
public static class MimeBundle
{
    /// <summary><c>text/plain</c>: the repr of a value.</summary>
    public const string TextPlain = "text/plain";

    /// <summary><c>text/html</c>: a rich rendering, e.g. of a DataFrame.</summary>
    public const string TextHtml = "text/html";

    /// <summary><c>image/png</c>: a base64-encoded PNG.</summary>
    public const string ImagePng = "image/png";

    /// <summary>The value for <paramref name="mimeType"/> when it is a string; otherwise null.</summary>
    /// <param name="bundle">The bundle; null reads as empty.</param>
    /// <param name="mimeType">The MIME type, e.g. <see cref="TextPlain"/>.</param>
    public static string? GetString(IReadOnlyDictionary<string, JsonElement>? bundle, string mimeType) =>
        bundle is not null && bundle.TryGetValue(mimeType, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    /// <summary>
    /// The value for <paramref name="mimeType"/> decoded from base64, or null when absent or not
    /// valid base64 (a malformed image should not stop the caller from reading the rest).
    /// </summary>
    /// <param name="bundle">The bundle; null reads as empty.</param>
    /// <param name="mimeType">The MIME type, e.g. <see cref="ImagePng"/>.</param>
    public static byte[]? GetBase64(IReadOnlyDictionary<string, JsonElement>? bundle, string mimeType)
    {
        if (GetString(bundle, mimeType) is not { } text)
        {
            return null;
        }
        // Base64 never decodes to more than 3/4 of its length; whitespace (line-wrapped base64) is skipped.
        var buffer = new byte[text.Length / 4 * 3 + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }
}
