namespace Vivarium.Cli.Local;

/// <summary>
/// Where <c>run</c> puts what a script produced: its charts as <c>STEM-1.png</c>, <c>STEM-2.png</c>…
/// and the workspace files it created or changed, all flat in one folder (the script's).
/// Names come from the sandbox and are treated as hostile: a name that would leave the folder,
/// hide in it, replace the script or go through a symlink is refused, never followed.
/// </summary>
internal sealed class OutputFolder
{
    private readonly string _directory;
    private readonly string _stem;
    private readonly string? _protectedPath;
    private readonly bool _keepExisting;
    private int _imageCount;

    /// <summary>Creates the folder's writer.</summary>
    /// <param name="directory">The folder; files never land anywhere else.</param>
    /// <param name="imageStem">Charts are named <c>{imageStem}-N.png</c>.</param>
    /// <param name="protectedPath">A file that is never overwritten (the script itself).</param>
    /// <param name="keepExisting">True to skip over image names already taken rather than replace them.</param>
    public OutputFolder(string directory, string imageStem, string? protectedPath, bool keepExisting)
    {
        _directory = Path.GetFullPath(directory);
        _stem = imageStem;
        _protectedPath = protectedPath is null ? null : Path.GetFullPath(protectedPath);
        _keepExisting = keepExisting;
    }

    /// <summary>Writes the next chart and returns its path.</summary>
    public string SaveImage(ReadOnlySpan<byte> png)
    {
        string path;
        do
        {
            _imageCount++;
            path = Path.Combine(_directory, $"{_stem}-{_imageCount}.png");
        }
        while ((_keepExisting && Path.Exists(path)) || IsProtected(path));
        Write(path, png);
        return path;
    }

    /// <summary>Writes a file the code produced under its flattened name (<c>out/a.csv</c> → <c>out_a.csv</c>).</summary>
    /// <returns>Where it was written.</returns>
    /// <exception cref="ArgumentException">The name is unsafe; the message says why.</exception>
    public string SaveWorkspaceFile(string workspacePath, ReadOnlySpan<byte> content)
    {
        var path = Path.Combine(_directory, FlattenName(workspacePath));
        if (IsProtected(path))
        {
            throw new ArgumentException($"'{workspacePath}' would overwrite the script itself");
        }
        Write(path, content);
        return path;
    }

    /// <summary>
    /// The one-segment name a workspace path is saved under: its segments joined with '_'.
    /// </summary>
    /// <exception cref="ArgumentException">Absolute, empty, '.' or '..' segments, control characters, or a hidden name.</exception>
    public static string FlattenName(string workspacePath)
    {
        if (string.IsNullOrEmpty(workspacePath) || workspacePath.StartsWith('/') || workspacePath.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{Printable(workspacePath)}' is not a relative workspace path");
        }
        var segments = workspacePath.Split('/');
        if (segments.Any(s => s is "" or "." or ".."))
        {
            throw new ArgumentException($"'{Printable(workspacePath)}' has an empty, '.' or '..' segment");
        }
        if (workspacePath.Any(char.IsControl))
        {
            throw new ArgumentException($"'{Printable(workspacePath)}' contains control characters");
        }
        var name = string.Join('_', segments);
        if (name.StartsWith('.'))
        {
            throw new ArgumentException($"'{Printable(workspacePath)}' is a hidden file");
        }
        if (name.Length > 255)
        {
            throw new ArgumentException($"'{Printable(workspacePath)}' flattens to a name longer than 255 characters");
        }
        return name;
    }

    private bool IsProtected(string path) =>
        _protectedPath is not null && string.Equals(Path.GetFullPath(path), _protectedPath, StringComparison.Ordinal);

    private static void Write(string path, ReadOnlySpan<byte> content)
    {
        // A symlink here would send the bytes somewhere else: refuse rather than follow.
        if (new FileInfo(path).LinkTarget is not null)
        {
            throw new ArgumentException($"{path} is a symbolic link; not writing through it");
        }
        var temp = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(content);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static string Printable(string text) =>
        new(text.Take(200).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
