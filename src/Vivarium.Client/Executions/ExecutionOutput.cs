using System.Collections.ObjectModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using Vivarium.Client.Serialization;

namespace Vivarium.Client;

/// <summary>
/// One output of an execution, in order, as Jupyter names them. Match on the subtypes:
/// <see cref="StreamOutput"/>, <see cref="DisplayDataOutput"/>, <see cref="ExecuteResultOutput"/>,
/// <see cref="ErrorOutput"/>, and <see cref="UnknownOutput"/> for a type this client does not know.
/// </summary>
[JsonConverter(typeof(ExecutionOutputConverter))]
public abstract record ExecutionOutput
{
    // Only this assembly derives outputs: the set mirrors the contract.
    private protected ExecutionOutput(string type) => Type = type;

    /// <summary>The output's <c>type</c> as sent on the wire, e.g. <c>stream</c>.</summary>
    [JsonPropertyOrder(-1)]
    public string Type { get; }
}

/// <summary>Text written to stdout or stderr.</summary>
/// <param name="Name"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Text">The text.</param>
public sealed record StreamOutput(string Name, string Text) : ExecutionOutput("stream");

/// <summary>A rich object shown while the code ran: a chart, <c>display(df)</c>.</summary>
/// <param name="Data">MIME type → value; images are base64 strings.</param>
/// <param name="Metadata">Jupyter metadata, if any.</param>
public sealed record DisplayDataOutput(IReadOnlyDictionary<string, JsonElement> Data, JsonElement? Metadata = null)
    : ExecutionOutput("display_data")
{
    /// <summary>MIME type → value; empty when the server sent none.</summary>
    public IReadOnlyDictionary<string, JsonElement> Data { get; init; } = Data ?? ReadOnlyDictionary<string, JsonElement>.Empty;
}

/// <summary>The value of the cell's last expression.</summary>
/// <param name="ExecutionCount">The cell number.</param>
/// <param name="Data">MIME type → value.</param>
public sealed record ExecuteResultOutput(int? ExecutionCount, IReadOnlyDictionary<string, JsonElement> Data)
    : ExecutionOutput("execute_result")
{
    /// <summary>MIME type → value; empty when the server sent none.</summary>
    public IReadOnlyDictionary<string, JsonElement> Data { get; init; } = Data ?? ReadOnlyDictionary<string, JsonElement>.Empty;
}

/// <summary>The exception that ended the code.</summary>
/// <param name="Name">Exception type, e.g. <c>KeyError</c>.</param>
/// <param name="Value">Its message.</param>
/// <param name="Traceback">The traceback, plain text.</param>
public sealed record ErrorOutput(string Name, string Value, string Traceback) : ExecutionOutput("error");

/// <summary>
/// An output whose <c>type</c> this client does not know (a newer server). Kept whole rather than
/// dropped, so the caller can still show or log it.
/// </summary>
public sealed record UnknownOutput : ExecutionOutput
{
    /// <summary>Creates an unknown output.</summary>
    /// <param name="type">The <c>type</c> the server sent (empty if it sent none).</param>
    /// <param name="json">The whole output object as received.</param>
    public UnknownOutput(string type, JsonElement json) : base(type) => Json = json;

    /// <summary>The whole output object as received.</summary>
    public JsonElement Json { get; }
}
