using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Files;

namespace Vivarium.Server.Compat;

/// <summary>
/// The pure part of the E2B translation: engine outputs to the code interpreter's NDJSON lines,
/// workspace listings to envd's <c>EntryInfo</c>, engine error codes to E2B's statuses. No I/O,
/// so every rule here is unit-tested on its own.
/// </summary>
internal static class E2bWire
{
    /// <summary>
    /// How compat bodies are written: these are API payloads, never embedded in HTML, so
    /// quotes, non-ASCII text and the markup of a DataFrame's HTML travel as themselves.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The envd version announced to the SDK. 0.5.7 is the newest one whose features are all served:
    /// it lets the SDK upload as octet-stream, and keeps it from asking for file metadata (0.6.2) or watch entries (0.6.3).</summary>
    public const string EnvdVersion = "0.5.7";

    /// <summary>The template every sandbox is (there is one environment).</summary>
    public const string DefaultTemplate = "code-interpreter-v1";

    /// <summary>Where the workspace is, as E2B paths say it.</summary>
    public const string Home = WorkspacePath.MountPoint;

    /// <summary>Jupyter MIME types and the result fields E2B names them by (as its code interpreter server does).</summary>
    private static readonly (string Mime, string Field)[] KnownMimes =
    [
        ("text/plain", "text"),
        ("text/html", "html"),
        ("text/markdown", "markdown"),
        ("image/svg+xml", "svg"),
        ("image/png", "png"),
        ("image/jpeg", "jpeg"),
        ("application/pdf", "pdf"),
        ("text/latex", "latex"),
        ("application/json", "json"),
        ("application/javascript", "javascript"),
        ("e2b/data", "data"),
        ("e2b/chart", "chart"),
    ];

    // ------------------------------------------------------------------------------------
    // Code interpreter: NDJSON lines
    // ------------------------------------------------------------------------------------

    /// <summary>A <c>stdout</c> or <c>stderr</c> line.</summary>
    public static byte[] StreamLine(string name, string text, DateTimeOffset timestamp) => Line(w =>
    {
        w.WriteString("type", name == "stderr" ? "stderr" : "stdout");
        w.WriteString("text", text);
        w.WriteString("timestamp", timestamp.ToString("yyyy-MM-ddTHH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture));
    });

    /// <summary>A <c>result</c> line: a display (<paramref name="isMainResult"/> false) or the cell's value (true).</summary>
    public static byte[] ResultLine(IReadOnlyDictionary<string, JsonElement> data, bool isMainResult) => Line(w =>
    {
        w.WriteString("type", "result");
        foreach (var (mime, field) in KnownMimes)
        {
            if (!data.TryGetValue(mime, out var value))
            {
                continue;
            }
            w.WritePropertyName(field);
            if (mime == "text/plain" && value.ValueKind == JsonValueKind.String)
            {
                w.WriteStringValue(StripQuotes(value.GetString()!));
            }
            else
            {
                value.WriteTo(w);
            }
        }
        // Like E2B, MIME types without a field of their own travel in 'extra', always present.
        w.WriteStartObject("extra");
        foreach (var (mime, value) in data)
        {
            if (!KnownMimes.Any(k => k.Mime == mime))
            {
                w.WritePropertyName(mime);
                value.WriteTo(w);
            }
        }
        w.WriteEndObject();
        w.WriteBoolean("is_main_result", isMainResult);
    });

    /// <summary>An <c>error</c> line.</summary>
    public static byte[] ErrorLine(string name, string value, string traceback) => Line(w =>
    {
        w.WriteString("type", "error");
        w.WriteString("name", name);
        w.WriteString("value", value);
        w.WriteString("traceback", traceback);
    });

    /// <summary>The <c>number_of_executions</c> line, sent once the cell has finished.</summary>
    public static byte[] NumberOfExecutionsLine(int executionCount) => Line(w =>
    {
        w.WriteString("type", "number_of_executions");
        w.WriteNumber("execution_count", executionCount);
    });

    /// <summary>Written while the code is quiet, so a vanished client is noticed (the SDK ignores it).</summary>
    public static readonly byte[] KeepaliveLine = "{\"type\":\"keepalive\"}\n"u8.ToArray();

    /// <summary>Always the last line.</summary>
    public static readonly byte[] EndOfExecutionLine = "{\"type\":\"end_of_execution\"}\n"u8.ToArray();

    /// <summary>The line for an output streamed live, or null for what E2B has no line for.</summary>
    public static byte[]? LiveLine(ExecutionEvent item, DateTimeOffset now) => item switch
    {
        ExecutionOutputEvent { Output: StreamOutput s } => StreamLine(s.Name, s.Text, now),
        ExecutionOutputEvent { Output: DisplayDataOutput d } => ResultLine(d.Data, isMainResult: false),
        ExecutionOutputEvent { Output: ExecuteResultOutput r } => ResultLine(r.Data, isMainResult: true),
        ExecutionOutputEvent { Output: ErrorOutput e } => ErrorLine(e.Name, e.Value, e.Traceback),
        _ => null, // clear_output: E2B's protocol cannot take back what was sent
    };

    /// <summary>
    /// What the live stream could not carry, once the execution is done: the kept tail of a
    /// capped stream (only the head is streamed live), the reason a sandbox died, and the count.
    /// </summary>
    public static IEnumerable<byte[]> ClosingLines(Execution execution, DateTimeOffset now)
    {
        if (execution.StdoutTruncated && execution.Outputs.OfType<StreamOutput>().LastOrDefault(o => o.Name == "stdout") is { } stdoutTail)
        {
            yield return StreamLine("stdout", stdoutTail.Text, now);
        }
        if (execution.StderrTruncated && execution.Outputs.OfType<StreamOutput>().LastOrDefault(o => o.Name == "stderr") is { } stderrTail)
        {
            yield return StreamLine("stderr", stderrTail.Text, now);
        }
        if (execution.Status == ExecutionStatus.Crashed && execution.Error is { } crash)
        {
            yield return ErrorLine(crash.Name, crash.Value, crash.Traceback);
        }
        if (execution.ExecutionCount is { } count)
        {
            yield return NumberOfExecutionsLine(count);
        }
    }

    /// <summary>
    /// E2B's server strips the quotes of a string's repr, so <c>'hello'</c> reads as <c>hello</c>
    /// in <c>execution.text</c>; clients compare against that.
    /// </summary>
    public static string StripQuotes(string text) =>
        text.Length >= 1 && ((text[0] == '\'' && text[^1] == '\'') || (text[0] == '"' && text[^1] == '"'))
            ? (text.Length >= 2 ? text[1..^1] : "")
            : text;

    /// <summary>True for the languages this server runs (E2B's default context is Python).</summary>
    public static bool IsPython(string? language) =>
        string.IsNullOrEmpty(language) ||
        language.Equals("python", StringComparison.OrdinalIgnoreCase) ||
        language.Equals("python3", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when a context's working directory is the workspace (the only one a context can have).</summary>
    public static bool IsHome(string? cwd) => string.IsNullOrEmpty(cwd) || cwd.TrimEnd('/') == Home;

    private static byte[] Line(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    // ------------------------------------------------------------------------------------
    // envd: paths and directory entries
    // ------------------------------------------------------------------------------------

    /// <summary>
    /// The workspace-relative form of an E2B path, "" for the workspace itself. Relative paths
    /// are relative to the user's home, as in envd.
    /// </summary>
    /// <exception cref="VivariumException">invalid_path.</exception>
    public static string Relative(string? path)
    {
        var trimmed = path?.Trim() ?? "";
        if (trimmed is "" or "." or "~" or "./" or "~/" || trimmed.TrimEnd('/') == Home)
        {
            return "";
        }
        if (trimmed.StartsWith("~/", StringComparison.Ordinal))
        {
            trimmed = trimmed[2..];
        }
        return WorkspacePath.Normalize(trimmed);
    }

    /// <summary>The absolute path E2B clients see for a workspace-relative one.</summary>
    public static string Absolute(string relative) => relative.Length == 0 ? Home : $"{Home}/{relative}";

    /// <summary>One entry of a listing: a file, or a directory implied by the files under it.</summary>
    public sealed record Entry(string RelativePath, bool IsDirectory, long Size, DateTimeOffset? ModifiedAt)
    {
        /// <summary>The last path segment.</summary>
        public string Name => RelativePath.Length == 0 ? Path.GetFileName(Home) : RelativePath[(RelativePath.LastIndexOf('/') + 1)..];
    }

    /// <summary>
    /// The entries of <paramref name="directory"/> down to <paramref name="depth"/> levels, from
    /// the workspace's file list. The engine lists files only, so directories are the ones that
    /// hold files (an empty directory is not seen).
    /// </summary>
    /// <returns>The entries sorted by path, or null when nothing is known at that path.</returns>
    public static IReadOnlyList<Entry>? ListDirectory(IReadOnlyList<WorkspaceFile> files, string directory, int depth)
    {
        var prefix = directory.Length == 0 ? "" : directory + "/";
        var entries = new SortedDictionary<string, Entry>(StringComparer.Ordinal);
        bool found = directory.Length == 0;
        foreach (var file in files)
        {
            if (file.Path == directory)
            {
                return null; // a file, not a directory; the caller says so
            }
            if (!file.Path.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }
            found = true;
            var segments = file.Path[prefix.Length..].Split('/');
            for (int level = 1; level <= Math.Min(depth, segments.Length); level++)
            {
                var relative = prefix + string.Join('/', segments, 0, level);
                var isFile = level == segments.Length;
                entries.TryAdd(relative, isFile ? new Entry(relative, false, file.Size, file.ModifiedAt) : new Entry(relative, true, 0, null));
            }
        }
        return found ? entries.Values.ToList() : null;
    }

    /// <summary>What a path is, from the workspace's file list: a file, a directory holding files, or nothing.</summary>
    public static Entry? Stat(IReadOnlyList<WorkspaceFile> files, string relative)
    {
        if (relative.Length == 0)
        {
            return new Entry("", true, 0, null);
        }
        if (files.FirstOrDefault(f => f.Path == relative) is { } file)
        {
            return new Entry(relative, false, file.Size, file.ModifiedAt);
        }
        return files.Any(f => f.Path.StartsWith(relative + "/", StringComparison.Ordinal)) ? new Entry(relative, true, 0, null) : null;
    }

    /// <summary>
    /// Writes an envd <c>EntryInfo</c> in the protobuf JSON mapping. Mode, permissions, owner and
    /// group are left out (they read as zero and empty): the engine does not report them, and a
    /// made-up value would be a lie.
    /// </summary>
    public static void WriteEntryInfo(Utf8JsonWriter w, Entry entry)
    {
        w.WriteStartObject();
        w.WriteString("name", entry.Name);
        w.WriteString("type", entry.IsDirectory ? "FILE_TYPE_DIRECTORY" : "FILE_TYPE_FILE");
        w.WriteString("path", Absolute(entry.RelativePath));
        // int64 travels as a string in the protobuf JSON mapping.
        w.WriteString("size", entry.Size.ToString(CultureInfo.InvariantCulture));
        if (entry.ModifiedAt is { } modified)
        {
            w.WriteString("modifiedTime", modified.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
        }
        w.WriteEndObject();
    }

    // ------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------

    /// <summary>The Connect code for an engine error code (the SDK maps not_found to FileNotFoundError, invalid_argument to InvalidArgumentError).</summary>
    public static string ConnectCode(string code) => code switch
    {
        ErrorCodes.InvalidPath or ErrorCodes.InvalidRequest => "invalid_argument",
        ErrorCodes.FileNotFound => "not_found",
        ErrorCodes.Unauthorized => "unauthenticated",
        ErrorCodes.PayloadTooLarge => "out_of_range",
        ErrorCodes.SessionNotFound or ErrorCodes.SandboxUnavailable => "unavailable",
        ErrorCodes.RateLimited or ErrorCodes.SessionLimitReached => "resource_exhausted",
        ErrorCodes.SessionBusy => "aborted",
        _ => "internal",
    };

    /// <summary>The HTTP status the Connect protocol gives a code.</summary>
    public static int ConnectStatus(string connectCode) => connectCode switch
    {
        "invalid_argument" or "failed_precondition" or "out_of_range" => 400,
        "unauthenticated" => 401,
        "permission_denied" => 403,
        "not_found" => 404,
        "aborted" or "already_exists" => 409,
        "resource_exhausted" => 429,
        "unimplemented" => 501,
        "unavailable" => 503,
        _ => 500,
    };
}
