using System.Globalization;
using System.Text.Json;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// Reads a tool call's arguments and says precisely what is wrong with them. The SDK passes
/// them through unchecked, and a model learns from "timeout_seconds must be a number, got a
/// string" what a generic "invalid arguments" would not tell it.
/// </summary>
internal sealed class ToolArguments
{
    private readonly string _tool;
    private readonly IDictionary<string, JsonElement> _values;

    /// <param name="tool">The tool's name, for messages.</param>
    /// <param name="values">The arguments as sent; null when none were.</param>
    /// <param name="known">The names the tool takes; any other is refused.</param>
    /// <exception cref="ToolException">An argument the tool does not take.</exception>
    public ToolArguments(string tool, IDictionary<string, JsonElement>? values, IReadOnlyList<string> known)
    {
        _tool = tool;
        _values = values ?? new Dictionary<string, JsonElement>();
        foreach (var name in _values.Keys)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                throw new ToolException(known.Count == 0
                    ? $"{tool} takes no arguments, but '{name}' was given"
                    : $"{tool} has no argument '{name}'; it takes: {string.Join(", ", known)}");
            }
        }
    }

    /// <summary>True when the argument was sent with a value other than null.</summary>
    public bool Has(string name) => _values.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>A string argument that must be present.</summary>
    /// <param name="name">The argument.</param>
    /// <param name="what">What it is, for the message when it is missing.</param>
    /// <exception cref="ToolException">Missing, null, or not a string.</exception>
    public string RequiredString(string name, string what)
    {
        if (!Has(name))
        {
            throw new ToolException($"{_tool}: '{name}' is required ({what})");
        }
        return String(name);
    }

    /// <summary>A string argument that may be left out; an empty string counts as left out.</summary>
    /// <exception cref="ToolException">Not a string.</exception>
    public string? OptionalString(string name)
    {
        if (!Has(name))
        {
            return null;
        }
        var value = String(name);
        return value.Length == 0 ? null : value;
    }

    /// <summary>A number argument that may be left out, within [<paramref name="least"/>, <paramref name="most"/>].</summary>
    /// <exception cref="ToolException">Not a number (a numeric string is accepted), or out of range.</exception>
    public double? OptionalNumber(string name, double least, double most)
    {
        if (!Has(name))
        {
            return null;
        }
        var value = _values[name];
        double number;
        if (value.ValueKind == JsonValueKind.Number)
        {
            number = value.GetDouble();
        }
        // Some clients send every argument as a string; "30" means 30 to everyone.
        else if (value.ValueKind == JsonValueKind.String
            && double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
        {
            number = parsed;
        }
        else
        {
            throw new ToolException($"{_tool}: '{name}' must be a number, got {Kind(value)}");
        }
        if (double.IsNaN(number) || number < least || number > most)
        {
            throw new ToolException(string.Create(CultureInfo.InvariantCulture,
                $"{_tool}: '{name}' must be between {least} and {most}, got {number}"));
        }
        return number;
    }

    private string String(string name)
    {
        var value = _values[name];
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new ToolException($"{_tool}: '{name}' must be a string, got {Kind(value)}");
        }
        return value.GetString()!;
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
