using Microsoft.AspNetCore.StaticFiles;
using Vivarium.Engine;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Api;

/// <summary>Workspace file routes: upload (raw and multipart), list, download, delete.</summary>
public static class FilesApi
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>Maps the routes onto the authenticated /v1 group.</summary>
    public static RouteGroupBuilder MapFiles(this RouteGroupBuilder v1)
    {
        var files = v1.MapGroup("/sessions/{id}/files").WithTags("Files");

        files.MapPut("/{**path}", async (HttpContext http, SessionService service, string id, string path) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            var content = await ReadBodyAsync(http.Request, http.RequestAborted);
            var written = await session.WriteFileAsync(RoutePath(path), content, http.RequestAborted);
            return TypedResults.Created($"/v1/sessions/{id}/files/{written.Path}", new FileWritten(written.Path, written.Size));
        }).WithName("PutFile").WithSummary("Upload one file (raw body, any content type); directories are created");

        files.MapPost("/", async (HttpContext http, SessionService service, string id) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            if (!http.Request.HasFormContentType)
            {
                throw new VivariumException(ErrorCodes.InvalidRequest, "send multipart/form-data with one or more 'file' fields");
            }
            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            if (form.Files.Count == 0)
            {
                throw new VivariumException(ErrorCodes.InvalidRequest, "the form has no file");
            }
            string? target = form["path"];
            var written = new List<FileWritten>();
            foreach (var file in form.Files)
            {
                var path = TargetPath(target, file.FileName, form.Files.Count);
                using var stream = new MemoryStream();
                await file.CopyToAsync(stream, http.RequestAborted);
                var result = await session.WriteFileAsync(path, stream.ToArray(), http.RequestAborted);
                written.Add(new FileWritten(result.Path, result.Size));
            }
            return TypedResults.Created($"/v1/sessions/{id}/files", new FilesWritten(written));
        }).WithName("UploadFiles").WithSummary("Upload files (multipart 'file' fields; optional 'path': a file name, or a directory ending in '/')")
          .DisableAntiforgery();

        files.MapGet("/", async (HttpContext http, SessionService service, string id) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            var listing = await session.ListFilesAsync(http.RequestAborted);
            return TypedResults.Ok(new FileList(listing.Select(FileEntryView.From).ToList()));
        }).WithName("ListFiles").WithSummary("List the workspace's files, recursively");

        files.MapGet("/{**path}", async (HttpContext http, SessionService service, string id, string path) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            var bytes = await session.ReadFileAsync(RoutePath(path), http.RequestAborted);
            var contentType = ContentTypes.TryGetContentType(path, out var type) ? type : "application/octet-stream";
            return TypedResults.File(bytes, contentType);
        }).WithName("DownloadFile").WithSummary("Download a file");

        files.MapDelete("/{**path}", async (HttpContext http, SessionService service, string id, string path) =>
        {
            var session = service.Get(http.Tenant().Id, id);
            await session.DeleteFileAsync(RoutePath(path), http.RequestAborted);
            return TypedResults.NoContent();
        }).WithName("DeleteFile").WithSummary("Delete a file");

        return v1;
    }

    /// <summary>
    /// Kestrel decodes a path except for <c>%2F</c>; a client that escaped its slashes means
    /// them as separators, so they are restored before the path is checked.
    /// </summary>
    private static string RoutePath(string path) => path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static string TargetPath(string? target, string fileName, int count)
    {
        var name = Path.GetFileName(fileName.Replace('\\', '/'));
        if (string.IsNullOrEmpty(target))
        {
            return name;
        }
        if (target.EndsWith('/'))
        {
            return target + name;
        }
        return count == 1 ? target : $"{target.TrimEnd('/')}/{name}";
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = request.ContentLength is { } length and <= int.MaxValue ? new MemoryStream((int)length) : new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }
}
