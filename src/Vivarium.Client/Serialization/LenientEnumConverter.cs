using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vivarium.Client.Serialization;

/// <summary>
/// Reads and writes an enum as its snake_case name. A name it does not know reads as the zero
/// value (each client enum's <c>Unknown</c>): a server newer than this client may add a status,
/// and an older client should still read the rest of the answer instead of failing on it.
/// </summary>
internal sealed class LenientEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly Dictionary<string, TEnum> ByName = BuildByName();

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"expected a string for {typeof(TEnum).Name}, got {reader.TokenType}");
        }
        return ByName.TryGetValue(reader.GetString()!, out var value) ? value : default;
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) =>
        writer.WriteStringValue(NameOf(value));

    private static string NameOf(TEnum value) => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    private static Dictionary<string, TEnum> BuildByName()
    {
        var byName = new Dictionary<string, TEnum>(StringComparer.Ordinal);
        foreach (var value in Enum.GetValues<TEnum>())
        {
            byName[NameOf(value)] = value;
        }
        return byName;
    }
}
