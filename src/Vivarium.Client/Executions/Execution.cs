using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vivarium.Client;

/// <summary>
/// What one execution produced: the answer of <c>POST /v1/sessions/{id}/execute</c> and the data
/// of the stream's <c>done</c> event. A Python error is not an exception here: check
/// <see cref="Status"/> or <see cref="IsSuccess"/>.
/// </summary>
public sealed record Execution
{
    // Missing members arrive as null (the JSON source generator sets every init property), so
    // the setters turn null into empty: collections and text are never null for the caller.
    private readonly string _stdout = "";
    private readonly string _stderr = "";
    private readonly IReadOnlyList<ExecutionOutput> _outputs = [];
    private readonly IReadOnlyList<FileChange> _files = [];
    private readonly string _summary = "";

    /// <summary>The execution's id, <c>exe_…</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The session it ran in.</summary>
    public required string SessionId { get; init; }

    /// <summary>How it ended.</summary>
    public ExecutionStatus Status { get; init; }

    /// <summary>The cell number as Jupyter counts; null when the sandbox died before it was known.</summary>
    public int? ExecutionCount { get; init; }

    /// <summary>Everything written to stdout; when over the server's cap, its head and tail.</summary>
    public string Stdout { get => _stdout; init => _stdout = value ?? ""; }

    /// <summary>Everything written to stderr, capped the same way.</summary>
    public string Stderr { get => _stderr; init => _stderr = value ?? ""; }

    /// <summary>True when the middle of <see cref="Stdout"/> was cut.</summary>
    public bool StdoutTruncated { get; init; }

    /// <summary>True when the middle of <see cref="Stderr"/> was cut.</summary>
    public bool StderrTruncated { get; init; }

    /// <summary>Every output in order, as Jupyter would show them.</summary>
    public IReadOnlyList<ExecutionOutput> Outputs { get => _outputs; init => _outputs = value ?? []; }

    /// <summary>The MIME bundle of the last expression's value, if the cell ended with one.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Result { get; init; }

    /// <summary>The exception that ended the code, if any.</summary>
    public ExecutionError? Error { get; init; }

    /// <summary>Workspace files the execution created, modified or deleted.</summary>
    public IReadOnlyList<FileChange> Files { get => _files; init => _files = value ?? []; }

    /// <summary>Wall time of the execution, in milliseconds.</summary>
    public double DurationMs { get; init; }

    /// <summary>A compact account of the execution, written for a language model to read.</summary>
    public string Summary { get => _summary; init => _summary = value ?? ""; }

    /// <summary>True when the code ran to the end (<see cref="ExecutionStatus.Ok"/>).</summary>
    [JsonIgnore]
    public bool IsSuccess => Status == ExecutionStatus.Ok;

    /// <summary>The <c>text/plain</c> form of <see cref="Result"/>, or null when the cell had no value.</summary>
    [JsonIgnore]
    public string? Text => MimeBundle.GetString(Result, MimeBundle.TextPlain);

    /// <summary>
    /// The PNG images the code showed, decoded, in output order: <c>image/png</c> from display_data
    /// and also from execute_result (a cell ending in an image shows it that way). Decoded on each
    /// read, so keep the list rather than reading it in a loop.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<byte[]> Images
    {
        get
        {
            var images = new List<byte[]>();
            foreach (var output in Outputs)
            {
                var data = output switch
                {
                    DisplayDataOutput display => display.Data,
                    ExecuteResultOutput result => result.Data,
                    _ => null,
                };
                if (MimeBundle.GetBase64(data, MimeBundle.ImagePng) is { } png)
                {
                    images.Add(png);
                }
            }
            return images;
        }
    }
}

/// <summary>The exception raised by the user's code, or why the sandbox died.</summary>
/// <param name="Name">Exception type, e.g. <c>KeyError</c>.</param>
/// <param name="Value">Its message.</param>
/// <param name="Traceback">The traceback, plain text.</param>
public sealed record ExecutionError(string Name, string Value, string Traceback);

/// <summary>A workspace file an execution touched.</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Size">Size in bytes after the execution (0 when deleted).</param>
/// <param name="Change">What happened to it.</param>
public sealed record FileChange(string Path, long Size, FileChangeKind Change);
