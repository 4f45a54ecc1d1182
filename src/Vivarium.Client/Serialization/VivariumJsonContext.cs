using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vivarium.Client;

/// <summary>
/// Source-generated JSON metadata for the client's types, with the wire's snake_case names. Public
/// so an app can store or log an <see cref="Execution"/> or <see cref="Session"/> in the same shape
/// the server sends, also under trimming and native AOT:
/// <c>JsonSerializer.Serialize(execution, VivariumJsonContext.Default.Execution)</c>.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    // Omitted rather than null: "limits": {"memory_bytes": 1} lowers one limit and leaves the others at the default.
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Session))]
[JsonSerializable(typeof(Execution))]
[JsonSerializable(typeof(ExecutionOutput))]
[JsonSerializable(typeof(StreamOutput))]
[JsonSerializable(typeof(DisplayDataOutput))]
[JsonSerializable(typeof(ExecuteResultOutput))]
[JsonSerializable(typeof(ErrorOutput))]
[JsonSerializable(typeof(ExecuteOnceResult))]
[JsonSerializable(typeof(WorkspaceFile))]
[JsonSerializable(typeof(UploadedFile))]
public sealed partial class VivariumJsonContext : JsonSerializerContext;
