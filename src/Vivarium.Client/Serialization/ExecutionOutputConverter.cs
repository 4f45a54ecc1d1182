using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vivarium.Client.Serialization;

/// <summary>
/// Chooses the <see cref="ExecutionOutput"/> subtype from <c>type</c>. Hand-written rather than
/// <c>[JsonPolymorphic]</c> for two reasons: an unknown type becomes <see cref="UnknownOutput"/>
/// instead of an exception, and <c>type</c> may come anywhere in the object.
/// </summary>
internal sealed class ExecutionOutputConverter : JsonConverter<ExecutionOutput>
{
    public override ExecutionOutput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        FromElement(JsonElement.ParseValue(ref reader), fallbackType: null);

    public override void Write(Utf8JsonWriter writer, ExecutionOutput value, JsonSerializerOptions options)
    {
        if (value is UnknownOutput unknown)
        {
            unknown.Json.WriteTo(writer);
            return;
        }
        // The subtypes carry no converter of their own, so this does not come back here.
        JsonSerializer.Serialize(writer, value, value.GetType(), VivariumJsonContext.Default);
    }

    /// <summary>Reads one output; <paramref name="fallbackType"/> names it when the object has no <c>type</c> (an SSE event name).</summary>
    public static ExecutionOutput FromElement(JsonElement element, string? fallbackType)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"an output must be a JSON object, got {element.ValueKind}");
        }
        var type = element.TryGetProperty("type", out var typeProperty) && typeProperty.ValueKind == JsonValueKind.String
            ? typeProperty.GetString()!
            : fallbackType ?? "";
        var context = VivariumJsonContext.Default;
        ExecutionOutput? output = type switch
        {
            "stream" => element.Deserialize(context.StreamOutput),
            "display_data" => element.Deserialize(context.DisplayDataOutput),
            "execute_result" => element.Deserialize(context.ExecuteResultOutput),
            "error" => element.Deserialize(context.ErrorOutput),
            _ => new UnknownOutput(type, element),
        };
        return output ?? throw new JsonException($"the {type} output is null");
    }
}
