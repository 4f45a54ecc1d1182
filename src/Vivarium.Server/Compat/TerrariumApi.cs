using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Api;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Compat;

/// <summary>Body of a Terrarium request.</summary>
public sealed record TerrariumRequest
{
    /// <summary>Python source.</summary>
    [JsonPropertyName("code")] public string? Code { get; init; }
    /// <summary>Input files, put in the home directory before the code runs.</summary>
    [JsonPropertyName("files")] public List<TerrariumFile>? Files { get; init; }
}

/// <summary>A file in a Terrarium request or response.</summary>
public sealed record TerrariumFile
{
    /// <summary>Path relative to the home directory.</summary>
    [JsonPropertyName("filename")] public string? Filename { get; init; }
    /// <summary>The bytes, base64.</summary>
    [JsonPropertyName("b64_data")] public string? B64Data { get; init; }
}

/// <summary>
/// Cohere Terrarium's one call, <c>POST /terrarium</c>: a fresh session for one piece of code,
/// input files in, produced files out as base64, then the session ends (Terrarium recycles its
/// interpreter after every call). Like Terrarium, a failing program is still HTTP 200 with
/// <c>success: false</c>.
/// </summary>
internal static class TerrariumApi
{
    /// <summary>The route. Terrarium itself answers at its root; point its clients' server_url here.</summary>
    public const string Route = "/terrarium";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost(Route, Run)
            .RequireAuthorization()
            .RequireRateLimiting(ExecutionsApi.RatePolicy)
            .WithTags("Terrarium compatibility")
            .WithSummary("Terrarium: run code once with input files; returns std_out, std_err, final_expression and the files it produced");
    }

    private static async Task<IResult> Run(HttpContext http, TerrariumRequest? body, SessionService service,
        IOptions<ServerOptions> serverOptions, IOptions<ExecutionOptions> executionOptions)
    {
        var code = body?.Code;
        if (string.IsNullOrWhiteSpace(code))
        {
            return Respond(w => Failure(w, "parsing", "no code provided"));
        }
        var inputs = new List<(string Path, byte[] Bytes)>();
        foreach (var file in body!.Files ?? [])
        {
            if (file?.Filename is null || file.B64Data is null)
            {
                return Respond(w => Failure(w, "parsing", "file data is missing for: " + JsonSerializer.Serialize(file)));
            }
            try
            {
                inputs.Add((file.Filename, Convert.FromBase64String(file.B64Data)));
            }
            catch (FormatException)
            {
                return Respond(w => Failure(w, "parsing", $"b64_data of '{file.Filename}' is not valid base64"));
            }
        }

        var tenant = http.Tenant();
        var session = await service.CreateAsync(tenant.Id, null, http.RequestAborted, tenant.MaxSessions);
        try
        {
            var inputPaths = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (path, bytes) in inputs)
            {
                try
                {
                    inputPaths.Add((await session.WriteFileAsync(path, bytes, http.RequestAborted)).Path);
                }
                catch (VivariumException e) when (e.Code is ErrorCodes.InvalidPath or ErrorCodes.InvalidRequest or ErrorCodes.PayloadTooLarge)
                {
                    return Respond(w => Failure(w, "parsing", $"input file '{path}': {e.Message}"));
                }
            }

            var execution = await session.ExecuteAsync(new ExecuteRequest(code), http.RequestAborted);
            var runtime = (long)Math.Round(execution.DurationMs);
            if (execution.Status != ExecutionStatus.Ok)
            {
                var (type, message) = TerrariumWire.Error(execution, executionOptions.Value.DefaultTimeout);
                return Respond(w => Failure(w, type, message, execution.Stdout, execution.Stderr, runtime));
            }

            // Like Terrarium: every file the code left in the home directory, except the inputs.
            var produced = new List<(string Path, byte[] Bytes)>();
            long total = 0;
            foreach (var change in execution.Files.Where(f => f.Change != "deleted" && !inputPaths.Contains(f.Path)))
            {
                total += change.Size;
                if (total > serverOptions.Value.MaxReturnedFileBytes)
                {
                    break; // the same cap as one-shot /v1/execute
                }
                produced.Add((change.Path, await session.ReadFileAsync(change.Path, http.RequestAborted)));
            }
            return Respond(w =>
            {
                w.WriteStartArray("output_files");
                foreach (var (path, bytes) in produced)
                {
                    w.WriteStartObject();
                    w.WriteString("filename", path);
                    w.WriteBase64String("b64_data", bytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (execution.Result is { } result && result.TryGetValue("text/plain", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    TerrariumWire.WriteFinalExpression(w, text.GetString()!);
                }
                w.WriteBoolean("success", true);
                w.WriteString("std_out", execution.Stdout);
                w.WriteString("std_err", execution.Stderr);
                w.WriteNumber("code_runtime", runtime);
            });
        }
        finally
        {
            try
            {
                await service.DeleteAsync(tenant.Id, session.Id);
            }
            catch (VivariumException e) when (e.Code == ErrorCodes.SessionNotFound)
            {
                // Already ended (shutdown): nothing left to clean.
            }
        }
    }

    private static void Failure(Utf8JsonWriter w, string type, string message, string? stdout = null, string? stderr = null, long? runtime = null)
    {
        w.WriteBoolean("success", false);
        w.WriteStartObject("error");
        w.WriteString("type", type);
        w.WriteString("message", message);
        w.WriteEndObject();
        if (runtime is not null)
        {
            w.WriteString("std_out", stdout);
            w.WriteString("std_err", stderr);
            w.WriteNumber("code_runtime", runtime.Value);
        }
    }

    /// <summary>Terrarium answers one JSON object and a newline, whatever happened to the code.</summary>
    private static IResult Respond(Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, E2bWire.WriterOptions))
        {
            writer.WriteStartObject();
            fields(writer);
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return Results.Bytes(buffer.WrittenSpan.ToArray(), "application/json");
    }
}

/// <summary>The pure part of the Terrarium translation.</summary>
internal static class TerrariumWire
{
    /// <summary>Terrarium's <c>error</c> for an execution that did not succeed: the exception type and the traceback.</summary>
    public static (string Type, string Message) Error(Execution execution, TimeSpan timeout) => execution.Status switch
    {
        ExecutionStatus.Timeout => ("TimeoutError", $"the code ran longer than {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s and was stopped"),
        _ when execution.Error is { } error => (error.Name, string.IsNullOrEmpty(error.Traceback) ? $"{error.Name}: {error.Value}" : error.Traceback),
        ExecutionStatus.Interrupted => ("KeyboardInterrupt", "the code was interrupted"),
        _ => ("Error", execution.Summary),
    };

    /// <summary>
    /// Writes <c>final_expression</c> as Pyodide would have converted the value to JSON: numbers,
    /// strings and booleans as themselves, None as absent, a float that JSON cannot hold as null.
    /// Anything else is written as its repr text (Pyodide would have handed over a proxy object).
    /// </summary>
    public static void WriteFinalExpression(Utf8JsonWriter w, string repr)
    {
        switch (repr)
        {
            case "None":
                return;
            case "True" or "False":
                w.WriteBoolean("final_expression", repr == "True");
                return;
            case "nan" or "inf" or "-inf":
                w.WriteNull("final_expression");
                return;
        }
        if (IsInteger(repr))
        {
            w.WritePropertyName("final_expression");
            w.WriteRawValue(repr.TrimStart('+'));
            return;
        }
        if (IsFloat(repr) && double.TryParse(repr, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number))
        {
            w.WriteNumber("final_expression", number);
            return;
        }
        w.WriteString("final_expression", UnquotePythonString(repr) ?? repr);
    }

    private static bool IsInteger(string text) =>
        text.Length is > 0 and < 4300 && (text[0] is '-' ? text.Length > 1 && text.Skip(1).All(char.IsAsciiDigit) : text.All(char.IsAsciiDigit))
        && !(text.TrimStart('-').Length > 1 && text.TrimStart('-')[0] == '0');

    private static bool IsFloat(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '-' or '+') && text.Any(char.IsAsciiDigit);

    /// <summary>The value of a Python str repr (<c>'a\nb'</c>), or null when the text is not one.</summary>
    public static string? UnquotePythonString(string repr)
    {
        if (repr.Length < 2 || repr[0] != repr[^1] || repr[0] is not ('\'' or '"'))
        {
            return null;
        }
        var quote = repr[0];
        var result = new StringBuilder(repr.Length);
        for (int i = 1; i < repr.Length - 1; i++)
        {
            var c = repr[i];
            if (c == quote)
            {
                return null; // an unescaped quote inside: not a single str repr
            }
            if (c != '\\')
            {
                result.Append(c);
                continue;
            }
            if (++i >= repr.Length - 1)
            {
                return null;
            }
            switch (repr[i])
            {
                case '\\': result.Append('\\'); break;
                case '\'': result.Append('\''); break;
                case '"': result.Append('"'); break;
                case 'n': result.Append('\n'); break;
                case 'r': result.Append('\r'); break;
                case 't': result.Append('\t'); break;
                case 'a': result.Append('\a'); break;
                case 'b': result.Append('\b'); break;
                case 'f': result.Append('\f'); break;
                case 'v': result.Append('\v'); break;
                case 'x' or 'u' or 'U':
                {
                    var digits = repr[i] switch { 'x' => 2, 'u' => 4, _ => 8 };
                    if (i + digits > repr.Length - 2 ||
                        !int.TryParse(repr.AsSpan(i + 1, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code) ||
                        code > 0x10FFFF)
                    {
                        return null;
                    }
                    result.Append(char.ConvertFromUtf32(code is >= 0xD800 and <= 0xDFFF ? 0xFFFD : code));
                    i += digits;
                    break;
                }
                default:
                    return null;
            }
        }
        return result.ToString();
    }
}
