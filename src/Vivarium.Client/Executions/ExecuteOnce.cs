using System.Text.Json.Serialization;

namespace Vivarium.Client;

/// <summary>A file to place in the workspace before a one-shot execution.</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Content">The bytes; sent as <c>content_base64</c>.</param>
public sealed record InputFile(
    string Path,
    [property: JsonPropertyName("content_base64")] ReadOnlyMemory<byte> Content);

/// <summary>A file a one-shot execution produced.</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="Content">The bytes, decoded from <c>content_base64</c>.</param>
public sealed record OutputFile(
    string Path,
    long Size,
    [property: JsonPropertyName("content_base64")] byte[] Content);

/// <summary>The answer of <c>POST /v1/execute</c>.</summary>
/// <param name="Execution">The execution.</param>
/// <param name="Files">The files the code produced, with their content.</param>
public sealed record ExecuteOnceResult(Execution Execution, IReadOnlyList<OutputFile> Files)
{
    /// <summary>The files the code produced, with their content; empty when it produced none.</summary>
    public IReadOnlyList<OutputFile> Files { get; init; } = Files ?? [];
}
