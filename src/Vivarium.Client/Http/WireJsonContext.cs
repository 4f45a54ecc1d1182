using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vivarium.Client.Http;

/// <summary>
/// Metadata for the internal request bodies and envelopes. Apart from <see cref="VivariumJsonContext"/>
/// only because a public context cannot name internal types; the options must stay the same.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateSessionRequest))]
[JsonSerializable(typeof(ExecuteRequest))]
[JsonSerializable(typeof(ExecuteOnceRequest))]
[JsonSerializable(typeof(SessionList))]
[JsonSerializable(typeof(InterruptResult))]
[JsonSerializable(typeof(WorkspaceFileList))]
[JsonSerializable(typeof(UploadedFileList))]
[JsonSerializable(typeof(ProblemBody))]
[JsonSerializable(typeof(ClearOutputData))]
internal sealed partial class WireJsonContext : JsonSerializerContext;
