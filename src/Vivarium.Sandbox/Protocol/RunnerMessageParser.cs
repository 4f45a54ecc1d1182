using System.Text.Json;
using System.Text.Unicode;

namespace Vivarium.Sandbox.Protocol;

/// <summary>
/// Turns a frame from the runner into a typed message, checking every field's type and size.
/// The runner is inside the sandbox, so its frames are hostile input: a frame that does not
/// parse is a <see cref="ProtocolViolationException"/>, and an unknown type is returned as null.
/// </summary>
public static class RunnerMessageParser
{
    /// <summary>Limits on what a single message may contain.</summary>
    public const int MaxIdLength = 128;
    private const int MaxMimeTypes = 32;
    private const int MaxMimeTypeLength = 128;
    private const int MaxTracebackLines = 1000;
    private const int MaxFileChanges = 10_000;
    private const int MaxPackages = 512;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>Parses one frame.</summary>
    /// <returns>The message, or null when its type is unknown (newer runner; ignored).</returns>
    /// <exception cref="ProtocolViolationException">Malformed JSON or a field of the wrong shape.</exception>
    public static RunnerMessage? Parse(ReadOnlyMemory<byte> frame)
    {
        // JsonDocument does not check the text inside strings: invalid UTF-8, or an escaped
        // lone surrogate ("\ud800"), only fails when a string is read, as an
        // InvalidOperationException far from here (in the engine, rendering a summary). User
        // code shares the runner's process and can forge frames, so both are refused now.
        if (!Utf8.IsValid(frame.Span))
        {
            throw new ProtocolViolationException("a frame is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(frame, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new ProtocolViolationException($"a frame is not valid JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ProtocolViolationException("a frame is not a JSON object");
            }
            if (MayHoldSurrogateEscape(frame.Span))
            {
                RequireValidStrings(root);
            }
            var parent = OptionalString(root, "parent", MaxIdLength);
            RunnerMessage? message = RequiredString(root, "type", 64) switch
            {
                "ready" => new ReadyMessage(
                    RequiredInt(root, "protocol"), RequiredString(root, "python", 64),
                    OptionalDouble(root, "startup_ms"), StringMap(root, "packages")),
                "stream" => new StreamMessage(StreamName(root), RequiredString(root, "text", int.MaxValue)),
                "display_data" => new DisplayDataMessage(MimeBundle(root), OptionalObject(root, "metadata")),
                "execute_result" => new ExecuteResultMessage(RequiredInt(root, "execution_count"), MimeBundle(root)),
                "clear_output" => new ClearOutputMessage(root.TryGetProperty("wait", out var w) && w.ValueKind == JsonValueKind.True),
                "error" => new ErrorMessage(
                    RequiredString(root, "ename", 1024), OptionalString(root, "evalue", int.MaxValue) ?? "",
                    StringList(root, "traceback", MaxTracebackLines), OptionalString(root, "user_traceback", int.MaxValue) ?? ""),
                "execute_reply" => new ExecuteReplyMessage(
                    Status(root), RequiredInt(root, "execution_count"), FileChanges(root)),
                "reply" => new ReplyMessage(
                    RequiredBool(root, "ok"), OptionalString(root, "code", 64), OptionalString(root, "message", 4096), root.Clone()),
                "fatal" => new FatalMessage(OptionalString(root, "message", int.MaxValue) ?? ""),
                "protocol_error" => new ProtocolErrorMessage(OptionalString(root, "message", 4096) ?? ""),
                _ => null,
            };
            return message is null ? null : message with { Parent = parent };
        }
    }

    // Python's json module escapes surrogates only when they are unpaired, or when asked
    // to escape all non-ASCII; either way a frame without "\uD8".."\uDF" cannot hold a bad one.
    private static bool MayHoldSurrogateEscape(ReadOnlySpan<byte> frame)
    {
        for (int i = frame.IndexOf("\\u"u8); i >= 0 && i + 3 < frame.Length; )
        {
            if (frame[i + 2] is (byte)'d' or (byte)'D' && frame[i + 3] is >= (byte)'8' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F')
            {
                return true;
            }
            int next = frame[(i + 2)..].IndexOf("\\u"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }
        return false;
    }

    private static void RequireValidStrings(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        RequireValidStrings(item);
                    }
                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        RequireValidStrings(property.Value);
                    }
                    break;
            }
        }
        catch (InvalidOperationException)
        {
            throw new ProtocolViolationException("a frame holds a string that is not valid Unicode (an unpaired surrogate)");
        }
    }

    private static string StreamName(JsonElement root) => RequiredString(root, "name", 16) switch
    {
        "stdout" => "stdout",
        "stderr" => "stderr",
        var other => throw new ProtocolViolationException($"unknown stream name '{Clip(other)}'"),
    };

    private static string Status(JsonElement root) => RequiredString(root, "status", 16) switch
    {
        "ok" => "ok",
        "error" => "error",
        var other => throw new ProtocolViolationException($"unknown execute_reply status '{Clip(other)}'"),
    };

    private static Dictionary<string, JsonElement> MimeBundle(JsonElement root)
    {
        if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
        {
            throw new ProtocolViolationException("'data' must be an object of MIME types");
        }
        var bundle = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in data.EnumerateObject())
        {
            if (bundle.Count == MaxMimeTypes)
            {
                throw new ProtocolViolationException($"a MIME bundle has more than {MaxMimeTypes} types");
            }
            if (!IsMimeType(property.Name))
            {
                throw new ProtocolViolationException($"'{Clip(property.Name)}' is not a MIME type");
            }
            var value = property.Value;
            bool jsonType = property.Name.EndsWith("json", StringComparison.Ordinal);
            if (!jsonType && value.ValueKind != JsonValueKind.String)
            {
                throw new ProtocolViolationException($"the value of {property.Name} must be a string");
            }
            bundle[property.Name] = value.Clone();
        }
        return bundle;
    }

    private static bool IsMimeType(string name)
    {
        if (name.Length is 0 or > MaxMimeTypeLength)
        {
            return false;
        }
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == name.Length - 1)
        {
            return false;
        }
        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '+' or '-' or '_'))
            {
                return false;
            }
        }
        return true;
    }

    private static List<WorkspaceFileChange> FileChanges(JsonElement root)
    {
        var changes = new List<WorkspaceFileChange>();
        if (!root.TryGetProperty("files", out var files))
        {
            return changes;
        }
        if (files.ValueKind != JsonValueKind.Array || files.GetArrayLength() > MaxFileChanges)
        {
            throw new ProtocolViolationException("'files' must be an array of at most 10000 changes");
        }
        foreach (var file in files.EnumerateArray())
        {
            if (file.ValueKind != JsonValueKind.Object)
            {
                throw new ProtocolViolationException("a file change must be an object");
            }
            var change = RequiredString(file, "change", 16);
            if (change is not ("created" or "modified" or "deleted"))
            {
                throw new ProtocolViolationException($"unknown file change '{Clip(change)}'");
            }
            changes.Add(new WorkspaceFileChange(RequiredString(file, "path", 4096), RequiredLong(file, "size"), change));
        }
        return changes;
    }

    private static Dictionary<string, string> StringMap(JsonElement root, string name)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return map;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new ProtocolViolationException($"'{name}' must be an object");
        }
        foreach (var property in value.EnumerateObject())
        {
            if (map.Count == MaxPackages || property.Value.ValueKind != JsonValueKind.String)
            {
                throw new ProtocolViolationException($"'{name}' must map at most {MaxPackages} names to strings");
            }
            map[Clip(property.Name, 256)] = Clip(property.Value.GetString()!, 256);
        }
        return map;
    }

    private static List<string> StringList(JsonElement root, string name, int maxItems)
    {
        var list = new List<string>();
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return list;
        }
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > maxItems)
        {
            throw new ProtocolViolationException($"'{name}' must be an array of at most {maxItems} strings");
        }
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                throw new ProtocolViolationException($"'{name}' must hold only strings");
            }
            list.Add(item.GetString()!);
        }
        return list;
    }

    private static JsonElement? OptionalObject(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value.Clone() : null;

    private static string RequiredString(JsonElement root, string name, int maxLength) =>
        OptionalString(root, name, maxLength) ?? throw new ProtocolViolationException($"'{name}' is missing");

    private static string? OptionalString(JsonElement root, string name, int maxLength)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new ProtocolViolationException($"'{name}' must be a string");
        }
        var text = value.GetString()!;
        if (text.Length > maxLength)
        {
            throw new ProtocolViolationException($"'{name}' is longer than {maxLength} characters");
        }
        return text;
    }

    private static int RequiredInt(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int number)
            ? number
            : throw new ProtocolViolationException($"'{name}' must be an integer");

    private static long RequiredLong(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number) && number >= 0
            ? number
            : throw new ProtocolViolationException($"'{name}' must be a non-negative integer");

    private static double OptionalDouble(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : 0;

    private static bool RequiredBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw new ProtocolViolationException($"'{name}' must be a boolean");

    private static string Clip(string text, int max = 40) => text.Length <= max ? text : text[..max];
}
