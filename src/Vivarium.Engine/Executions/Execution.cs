using System.Text.Json;
using System.Text.Json.Serialization;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Engine.Executions;

/// <summary>How an execution ended: a closed set, decided once, read by everything downstream.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ExecutionStatus>))]
public enum ExecutionStatus
{
    /// <summary>The code ran to the end.</summary>
    [JsonStringEnumMemberName("ok")] Ok,
    /// <summary>The code raised an exception (including a SyntaxError).</summary>
    [JsonStringEnumMemberName("error")] Error,
    /// <summary>The timeout fired and the code was interrupted; the session's state is kept.</summary>
    [JsonStringEnumMemberName("timeout")] Timeout,
    /// <summary>Interrupted on request (or because the client went away); state kept.</summary>
    [JsonStringEnumMemberName("interrupted")] Interrupted,
    /// <summary>The sandbox died (out of memory, killed after an interrupt was ignored, runner crash); state lost, files kept.</summary>
    [JsonStringEnumMemberName("crashed")] Crashed,
}

/// <summary>What one execution produced: the contract of <c>POST /v1/sessions/{id}/execute</c>.</summary>
public sealed record Execution
{
    /// <summary>Unguessable id, <c>exe_…</c>.</summary>
    public required string Id { get; init; }
    /// <summary>The session it ran in.</summary>
    public required string SessionId { get; init; }
    /// <summary>How it ended.</summary>
    public required ExecutionStatus Status { get; init; }
    /// <summary>The cell number, as Jupyter counts (null if the sandbox died first).</summary>
    public int? ExecutionCount { get; init; }
    /// <summary>Everything written to stdout, head and tail kept when over the cap.</summary>
    public required string Stdout { get; init; }
    /// <summary>Everything written to stderr, capped the same way.</summary>
    public required string Stderr { get; init; }
    /// <summary>True when the middle of stdout was elided.</summary>
    public bool StdoutTruncated { get; init; }
    /// <summary>True when the middle of stderr was elided.</summary>
    public bool StderrTruncated { get; init; }
    /// <summary>Every output in order, as Jupyter would show them.</summary>
    public required IReadOnlyList<ExecutionOutput> Outputs { get; init; }
    /// <summary>The MIME bundle of the last expression's value, if it had one.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Result { get; init; }
    /// <summary>The exception that ended the code, if any.</summary>
    public ExecutionError? Error { get; init; }
    /// <summary>Workspace files the execution created, modified or deleted.</summary>
    public required IReadOnlyList<WorkspaceFileChange> Files { get; init; }
    /// <summary>Wall time from sending the code to its reply.</summary>
    public double DurationMs { get; init; }
    /// <summary>What a language model should read: compact, within a budget, the user's own frames only.</summary>
    public required string Summary { get; init; }
}

/// <summary>An exception raised by the user's code, or the reason the sandbox died.</summary>
/// <param name="Name">Exception type, e.g. <c>KeyError</c>; <c>SandboxCrashed</c> when the sandbox died.</param>
/// <param name="Value">The exception's message.</param>
/// <param name="Traceback">IPython's full traceback, plain text.</param>
[method: JsonConstructor]
public sealed record ExecutionError(string Name, string Value, string Traceback);

/// <summary>One output, tagged by <c>type</c> as Jupyter names them.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(StreamOutput), "stream")]
[JsonDerivedType(typeof(DisplayDataOutput), "display_data")]
[JsonDerivedType(typeof(ExecuteResultOutput), "execute_result")]
[JsonDerivedType(typeof(ErrorOutput), "error")]
public abstract record ExecutionOutput;

/// <summary>Text on stdout or stderr.</summary>
/// <param name="Name">stdout or stderr.</param>
/// <param name="Text">The text.</param>
public sealed record StreamOutput(string Name, string Text) : ExecutionOutput;

/// <summary>A rich object shown during the execution (a chart, display(df)).</summary>
/// <param name="Data">MIME type → value; images are base64.</param>
/// <param name="Metadata">Jupyter metadata, if any.</param>
public sealed record DisplayDataOutput(IReadOnlyDictionary<string, JsonElement> Data, JsonElement? Metadata) : ExecutionOutput;

/// <summary>The value of the last expression.</summary>
/// <param name="ExecutionCount">The cell number.</param>
/// <param name="Data">MIME type → value.</param>
public sealed record ExecuteResultOutput(int ExecutionCount, IReadOnlyDictionary<string, JsonElement> Data) : ExecutionOutput;

/// <summary>The exception that ended the code.</summary>
/// <param name="Name">Exception type.</param>
/// <param name="Value">Its message.</param>
/// <param name="Traceback">Full traceback, plain text.</param>
public sealed record ErrorOutput(string Name, string Value, string Traceback) : ExecutionOutput;

/// <summary>
/// What a streaming execution yields: each output as it happens, then <see cref="ExecutionCompleted"/>.
/// </summary>
public abstract record ExecutionEvent;

/// <summary>An output, as soon as the runner sent it.</summary>
/// <param name="Output">The output.</param>
public sealed record ExecutionOutputEvent(ExecutionOutput Output) : ExecutionEvent;

/// <summary>The code asked to clear what it displayed so far.</summary>
public sealed record ExecutionClearedEvent : ExecutionEvent;

/// <summary>Always last: the whole execution.</summary>
/// <param name="Execution">The execution, as the non-streaming call returns it.</param>
public sealed record ExecutionCompleted(Execution Execution) : ExecutionEvent;

/// <summary>A request to run code.</summary>
/// <param name="Code">Python source.</param>
/// <param name="Timeout">Null for the server's default; at most the configured maximum.</param>
public sealed record ExecuteRequest(string Code, TimeSpan? Timeout = null);
