using System.Text.Json;

namespace Vivarium.Sandbox.Protocol;

/// <summary>A validated message from the runner. Jupyter's vocabulary, one record per type.</summary>
public abstract record RunnerMessage
{
    /// <summary>The id of the request this message belongs to, when it belongs to one.</summary>
    public string? Parent { get; init; }
}

/// <summary>The runner started and imported its preload list.</summary>
/// <param name="Protocol">Protocol version the runner speaks.</param>
/// <param name="Python">Python version, e.g. 3.11.2.</param>
/// <param name="StartupMs">How long the runner took to become ready, as it measured it.</param>
/// <param name="Packages">Installed versions of the packages the host asked about.</param>
public sealed record ReadyMessage(int Protocol, string Python, double StartupMs, IReadOnlyDictionary<string, string> Packages) : RunnerMessage;

/// <summary>Text written to stdout or stderr, at the file-descriptor level.</summary>
/// <param name="Name">"stdout" or "stderr".</param>
/// <param name="Text">The text; invalid UTF-8 was already replaced.</param>
public sealed record StreamMessage(string Name, string Text) : RunnerMessage;

/// <summary>A rich object shown with display(), including matplotlib figures.</summary>
/// <param name="Data">MIME type → value (strings; JSON for application/json; base64 for images).</param>
/// <param name="Metadata">Jupyter metadata (image sizes and the like).</param>
public sealed record DisplayDataMessage(IReadOnlyDictionary<string, JsonElement> Data, JsonElement? Metadata) : RunnerMessage;

/// <summary>The value of the cell's last expression.</summary>
/// <param name="ExecutionCount">The cell's number.</param>
/// <param name="Data">MIME bundle of the value.</param>
public sealed record ExecuteResultMessage(int ExecutionCount, IReadOnlyDictionary<string, JsonElement> Data) : RunnerMessage;

/// <summary>The cell asked to clear its output (IPython.display.clear_output).</summary>
/// <param name="Wait">Clear when the next output arrives rather than now.</param>
public sealed record ClearOutputMessage(bool Wait) : RunnerMessage;

/// <summary>An exception that ended the cell.</summary>
/// <param name="Name">Exception type name, e.g. KeyError.</param>
/// <param name="Value">str() of the exception.</param>
/// <param name="Traceback">IPython's formatted traceback lines, no colour codes.</param>
/// <param name="UserTraceback">The traceback restricted to the user's own cells.</param>
public sealed record ErrorMessage(string Name, string Value, IReadOnlyList<string> Traceback, string UserTraceback) : RunnerMessage;

/// <summary>The cell finished; always the last message of an execution.</summary>
/// <param name="Status">"ok" or "error".</param>
/// <param name="ExecutionCount">The cell's number.</param>
/// <param name="Files">Workspace files the cell created, modified or deleted.</param>
public sealed record ExecuteReplyMessage(string Status, int ExecutionCount, IReadOnlyList<WorkspaceFileChange> Files) : RunnerMessage;

/// <summary>The answer to a request other than execute (file operations, set_env).</summary>
/// <param name="Ok">Whether the operation succeeded.</param>
/// <param name="Code">On failure, a stable error code (invalid_path, file_not_found, payload_too_large, io_error, invalid_request).</param>
/// <param name="Message">On failure, what went wrong.</param>
/// <param name="Body">The whole reply, for the fields specific to the operation.</param>
public sealed record ReplyMessage(bool Ok, string? Code, string? Message, JsonElement Body) : RunnerMessage;

/// <summary>The runner could not go on (it failed to start, or its channel broke).</summary>
/// <param name="Message">The runner's own account, a Python traceback.</param>
public sealed record FatalMessage(string Message) : RunnerMessage;

/// <summary>The runner did not understand a request of ours.</summary>
/// <param name="Message">What it said.</param>
public sealed record ProtocolErrorMessage(string Message) : RunnerMessage;

/// <summary>One file that an execution touched.</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Size">Size after the execution (0 when deleted).</param>
/// <param name="Change">"created", "modified" or "deleted".</param>
public sealed record WorkspaceFileChange(string Path, long Size, string Change);
