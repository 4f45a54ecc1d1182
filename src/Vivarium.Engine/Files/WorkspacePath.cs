namespace Vivarium.Engine.Files;

/// <summary>
/// Checks a client's path before it reaches a sandbox. Paths are relative to the workspace
/// (E2B clients send absolute ones under <c>/home/user</c>, which are accepted); anything that
/// would leave the workspace is refused here, and the runner checks again with the sandbox's
/// own view of symlinks.
/// </summary>
public static class WorkspacePath
{
    /// <summary>Where the workspace is mounted inside a sandbox.</summary>
    public const string MountPoint = "/home/user";

    private const int MaxPathChars = 4096;
    private const int MaxSegmentChars = 255;

    /// <summary>The normalised relative path (<c>data/in.csv</c>).</summary>
    /// <exception cref="VivariumException">invalid_path, saying which rule was broken.</exception>
    public static string Normalize(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw Invalid(path, "the path is empty");
        }
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw Invalid(path, "the path contains a NUL byte");
        }
        if (path.Length > MaxPathChars)
        {
            throw Invalid(path, $"the path is longer than {MaxPathChars} characters");
        }
        var relative = path;
        if (path.StartsWith('/'))
        {
            if (path == MountPoint || !path.StartsWith(MountPoint + "/", StringComparison.Ordinal))
            {
                throw Invalid(path, $"absolute paths must be inside {MountPoint}");
            }
            relative = path[(MountPoint.Length + 1)..];
        }
        var segments = new List<string>();
        foreach (var segment in relative.Split('/'))
        {
            switch (segment)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (segments.Count == 0)
                    {
                        throw Invalid(path, "the path leaves the workspace");
                    }
                    segments.RemoveAt(segments.Count - 1);
                    continue;
                default:
                    if (segment.Length > MaxSegmentChars)
                    {
                        throw Invalid(path, $"a path segment is longer than {MaxSegmentChars} characters");
                    }
                    segments.Add(segment);
                    continue;
            }
        }
        if (segments.Count == 0)
        {
            throw Invalid(path, "the path names the workspace itself, not a file");
        }
        return string.Join('/', segments);
    }

    private static VivariumException Invalid(string? path, string rule) =>
        new(ErrorCodes.InvalidPath, $"invalid path '{Printable(path)}': {rule}");

    private static string Printable(string? path) =>
        path is null ? "" : new string(path.Take(200).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}

/// <summary>A file in a workspace.</summary>
/// <param name="Path">Relative to the workspace.</param>
/// <param name="Size">Bytes.</param>
/// <param name="ModifiedAt">Last modification, when known.</param>
public sealed record WorkspaceFile(string Path, long Size, DateTimeOffset? ModifiedAt);
