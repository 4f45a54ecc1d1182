using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Vivarium.Engine;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Errors;

namespace Vivarium.Server.Compat;

/// <summary>
/// envd, the agent inside an E2B sandbox (its port 49983): health, file upload and download
/// over HTTP, and the filesystem service over Connect RPC with the JSON codec. Everything is
/// served by the engine's file operations on the sandbox's workspace.
/// </summary>
internal static class E2bEnvdApi
{
    public static void Map(IEndpointRouteBuilder app, E2bSandboxes sandboxes)
    {
        var envd = app.MapGroup("").WithTags("E2B compatibility");

        envd.MapGet("/health", () => TypedResults.NoContent())
            .WithMetadata(new E2bSandboxScope(SandboxRequired: false))
            .WithSummary("E2B: health (of the server, or of the sandbox named by E2b-Sandbox-Id: 502 when it is gone)");

        var files = envd.MapGroup("/files").WithMetadata(new E2bSandboxScope()).AddEndpointFilter(EnvdErrors);
        files.MapGet("", Download).WithSummary("E2B envd: download a file (?path=)");
        files.MapPost("", Upload).DisableAntiforgery()
            .WithSummary("E2B envd: upload files (multipart 'file' fields, or one octet-stream body) (?path=)");

        var rpc = envd.MapGroup("").WithMetadata(new E2bSandboxScope()).AddEndpointFilter(ConnectErrors);
        rpc.MapPost("/filesystem.Filesystem/{method}", Filesystem)
            .WithSummary("E2B envd: filesystem service over Connect (JSON): Stat, ListDir, Remove");
        rpc.MapPost("/process.Process/{method}", (string method) =>
            ConnectError("unimplemented", $"process.Process/{method}: commands are not supported; Vivarium runs Python code only (use runCode)"))
            .ExcludeFromDescription();

        async Task<IResult> Download(HttpContext http, string? path)
        {
            var session = sandboxes.Primary(http.Sandbox());
            var relative = E2bWire.Relative(path);
            if (relative.Length == 0)
            {
                throw new VivariumException(ErrorCodes.InvalidPath, $"'{path}' is a directory");
            }
            var bytes = await session.ReadFileAsync(relative, http.RequestAborted);
            return TypedResults.File(bytes, "application/octet-stream", Path.GetFileName(relative));
        }

        async Task<IResult> Upload(HttpContext http, string? path, IOptions<ServerOptions> serverOptions)
        {
            var session = sandboxes.Primary(http.Sandbox());
            var written = new List<Dictionary<string, string>>();
            if (http.Request.HasFormContentType)
            {
                var form = await http.Request.ReadFormAsync(http.RequestAborted);
                if (form.Files.Count == 0)
                {
                    throw new VivariumException(ErrorCodes.InvalidRequest, "the form has no 'file' field");
                }
                if (!string.IsNullOrEmpty(path) && form.Files.Count > 1)
                {
                    throw new VivariumException(ErrorCodes.InvalidRequest, "with ?path= send one file; without it, each part's file name is its path");
                }
                foreach (var file in form.Files)
                {
                    using var content = new MemoryStream();
                    await file.CopyToAsync(content, http.RequestAborted);
                    written.Add(await WriteAsync(session, string.IsNullOrEmpty(path) ? file.FileName : path, content.ToArray(), http.RequestAborted));
                }
            }
            else
            {
                if (string.IsNullOrEmpty(path))
                {
                    throw new VivariumException(ErrorCodes.InvalidPath, "an octet-stream upload needs ?path=");
                }
                var body = await ReadBodyAsync(http.Request, serverOptions.Value.MaxRequestBodyBytes, http.RequestAborted);
                written.Add(await WriteAsync(session, path, body, http.RequestAborted));
            }
            return TypedResults.Json(written);
        }

        async Task<IResult> Filesystem(HttpContext http, string method)
        {
            var session = sandboxes.Primary(http.Sandbox());
            if (http.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
            {
                return ConnectError("unimplemented", "only the Connect JSON codec is served (the SDK's default)", StatusCodes.Status415UnsupportedMediaType);
            }
            using var request = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted);
            var path = request.RootElement.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            switch (method)
            {
                case "Stat":
                {
                    var relative = E2bWire.Relative(path);
                    var entry = E2bWire.Stat(await session.ListFilesAsync(http.RequestAborted), relative);
                    if (entry is null)
                    {
                        return ConnectError("not_found", $"path '{path}' does not exist");
                    }
                    return ConnectJson(w =>
                    {
                        w.WritePropertyName("entry");
                        E2bWire.WriteEntryInfo(w, entry);
                    });
                }
                case "ListDir":
                {
                    var depth = request.RootElement.TryGetProperty("depth", out var d) && d.TryGetInt32(out int value) ? value : 1;
                    if (depth < 1)
                    {
                        depth = 1;
                    }
                    var relative = E2bWire.Relative(path);
                    var listing = await session.ListFilesAsync(http.RequestAborted);
                    var entries = E2bWire.ListDirectory(listing, relative, depth);
                    if (entries is null)
                    {
                        return E2bWire.Stat(listing, relative) is { IsDirectory: false }
                            ? ConnectError("invalid_argument", $"path '{path}' is not a directory")
                            : ConnectError("not_found", $"directory '{path}' does not exist");
                    }
                    return ConnectJson(w =>
                    {
                        w.WriteStartArray("entries");
                        foreach (var entry in entries)
                        {
                            E2bWire.WriteEntryInfo(w, entry);
                        }
                        w.WriteEndArray();
                    });
                }
                case "Remove":
                {
                    var relative = E2bWire.Relative(path);
                    if (relative.Length == 0)
                    {
                        return ConnectError("invalid_argument", "the workspace itself cannot be removed");
                    }
                    try
                    {
                        await session.DeleteFileAsync(relative, http.RequestAborted);
                    }
                    catch (VivariumException e) when (e.Code == ErrorCodes.InvalidPath && e.Message.StartsWith("is a directory", StringComparison.Ordinal))
                    {
                        return ConnectError("failed_precondition", $"'{path}' is a directory; removing directories is not supported (remove its files)");
                    }
                    return ConnectJson(_ => { });
                }
                default:
                    return ConnectError("unimplemented", $"filesystem.Filesystem/{method} is not supported (served: Stat, ListDir, Remove; see docs/compat.md)");
            }
        }
    }

    private static async Task<Dictionary<string, string>> WriteAsync(Session session, string path, byte[] content, CancellationToken cancellationToken)
    {
        var relative = E2bWire.Relative(path);
        if (relative.Length == 0)
        {
            throw new VivariumException(ErrorCodes.InvalidPath, $"'{path}' is a directory");
        }
        var result = await session.WriteFileAsync(relative, content, cancellationToken);
        return new Dictionary<string, string>
        {
            ["name"] = Path.GetFileName(result.Path),
            ["type"] = "file",
            ["path"] = E2bWire.Absolute(result.Path),
        };
    }

    /// <summary>Reads a raw body, gunzipping it when the SDK compressed it, never past <paramref name="limit"/> bytes.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        var gzip = request.Headers.ContentEncoding.Any(e => string.Equals(e, "gzip", StringComparison.OrdinalIgnoreCase));
        await using var source = gzip ? new GZipStream(request.Body, CompressionMode.Decompress, leaveOpen: true) : request.Body;
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await source.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    throw new VivariumException(ErrorCodes.PayloadTooLarge, $"the file is over the limit of {limit} bytes");
                }
                buffer.Write(chunk, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            throw new VivariumException(ErrorCodes.InvalidRequest, "the body is not valid gzip");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    private static IResult ConnectJson(Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, E2bWire.WriterOptions))
        {
            writer.WriteStartObject();
            fields(writer);
            writer.WriteEndObject();
        }
        return Results.Bytes(buffer.WrittenSpan.ToArray(), "application/json");
    }

    /// <summary>A Connect error: the status the protocol gives the code, and <c>{code, message}</c>.</summary>
    private static Microsoft.AspNetCore.Http.HttpResults.JsonHttpResult<Dictionary<string, string>> ConnectError(string code, string message, int? status = null) =>
        TypedResults.Json(new Dictionary<string, string> { ["code"] = code, ["message"] = message },
            statusCode: status ?? E2bWire.ConnectStatus(code));

    /// <summary>Engine refusals as envd answers them: <c>{code, message}</c> with the status the SDK maps to its errors.</summary>
    private static async ValueTask<object?> EnvdErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (VivariumException e)
        {
            var status = e.Code == ErrorCodes.SessionNotFound ? StatusCodes.Status502BadGateway : ProblemCatalog.StatusOf(e.Code);
            return E2bApi.Error(status, e.Message);
        }
    }

    private static async ValueTask<object?> ConnectErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (VivariumException e)
        {
            return ConnectError(E2bWire.ConnectCode(e.Code), e.Message);
        }
        catch (JsonException e)
        {
            return ConnectError("invalid_argument", $"the body is not valid JSON: {e.Message}");
        }
    }
}
