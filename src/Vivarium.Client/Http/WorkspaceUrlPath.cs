namespace Vivarium.Client.Http;

/// <summary>
/// Puts a workspace path into the <c>{*path}</c> part of a file route: each segment escaped,
/// the slashes kept. The server stays the judge of what a valid path is; this only refuses what
/// a URL cannot carry faithfully.
/// </summary>
internal static class WorkspaceUrlPath
{
    /// <summary>The workspace as mounted in the sandbox; the contract accepts absolute paths under it.</summary>
    private const string MountPrefix = "/home/user/";

    /// <exception cref="ArgumentException">
    /// The path is empty, has a <c>..</c> segment, or is absolute outside the workspace. Both would
    /// otherwise reach the server as a different request: <see cref="Uri"/> and the server's HTTP
    /// stack resolve <c>..</c> (even escaped) before routing, so <c>files/../../ses_2</c> would name
    /// another session; and a leading slash would become an empty segment.
    /// </exception>
    public static string Encode(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var relative = path;
        if (path.StartsWith('/'))
        {
            if (!path.StartsWith(MountPrefix, StringComparison.Ordinal))
            {
                throw new ArgumentException($"absolute paths must be under {MountPrefix} (the workspace): '{path}'", nameof(path));
            }
            // Equivalent for the server, which accepts both forms; only the relative one fits a URL.
            relative = path[MountPrefix.Length..];
        }
        var segments = new List<string>();
        foreach (var segment in relative.Split('/'))
        {
            switch (segment)
            {
                // Empty and "." segments name nothing; the server drops them too.
                case "" or ".":
                    continue;
                case "..":
                    throw new ArgumentException($"'..' cannot be sent in a URL path: '{path}'", nameof(path));
                default:
                    segments.Add(Uri.EscapeDataString(segment));
                    break;
            }
        }
        if (segments.Count == 0)
        {
            throw new ArgumentException($"the path names no file: '{path}'", nameof(path));
        }
        return string.Join('/', segments);
    }
}
