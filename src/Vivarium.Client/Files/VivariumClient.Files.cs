using System.Net.Http.Headers;
using Vivarium.Client.Http;

namespace Vivarium.Client;

public sealed partial class VivariumClient
{
    private const string OctetStream = "application/octet-stream";

    /// <summary>Writes one file into the workspace (<c>PUT /v1/sessions/{id}/files/{path}</c>), replacing any file there.</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="path">
    /// Path relative to the workspace (<c>data/in.csv</c>), or absolute under <c>/home/user</c>.
    /// Each segment is escaped for the URL; <c>..</c> segments are refused (see exceptions).
    /// </param>
    /// <param name="content">The bytes, read from the stream's current position; the stream is not disposed.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Where the file was written and its size.</returns>
    /// <exception cref="ArgumentException">The path is empty, has a <c>..</c> segment, or is absolute outside <c>/home/user</c>: a URL cannot carry it faithfully.</exception>
    /// <exception cref="InvalidPathException">The server refused the path.</exception>
    /// <exception cref="PayloadTooLargeException">The file is over the server's limit.</exception>
    public Task<UploadedFile> UploadFileAsync(string sessionId, string path, Stream content, CancellationToken cancellationToken = default)
    {
        var route = ApiRoutes.File(sessionId, path);
        ArgumentNullException.ThrowIfNull(content);
        return PutFileAsync(route, new CallerOwnedStreamContent(content), cancellationToken);
    }

    /// <summary>Writes one file into the workspace (<c>PUT /v1/sessions/{id}/files/{path}</c>), replacing any file there.</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="path">Path relative to the workspace, or absolute under <c>/home/user</c>; see the <see cref="Stream"/> overload.</param>
    /// <param name="content">The bytes (a <c>byte[]</c> converts).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Where the file was written and its size.</returns>
    /// <exception cref="ArgumentException">The path cannot be sent in a URL (see the <see cref="Stream"/> overload).</exception>
    /// <exception cref="InvalidPathException">The server refused the path.</exception>
    /// <exception cref="PayloadTooLargeException">The file is over the server's limit.</exception>
    public Task<UploadedFile> UploadFileAsync(string sessionId, string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        PutFileAsync(ApiRoutes.File(sessionId, path), new ReadOnlyMemoryContent(content), cancellationToken);

    /// <summary>
    /// Writes several files in one request (<c>POST /v1/sessions/{id}/files</c>, multipart): one
    /// <c>file</c> field per upload, named by <see cref="FileUpload.FileName"/>.
    /// </summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="files">The files.</param>
    /// <param name="path">
    /// Sent as the form's <c>path</c> field when given: the contract makes it the first file's path
    /// or a directory prefix for all of them, and the server decides which.
    /// </param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Where each file was written and its size.</returns>
    /// <exception cref="InvalidPathException">The server refused a path.</exception>
    /// <exception cref="PayloadTooLargeException">The body or a file is over the server's limit.</exception>
    public async Task<IReadOnlyList<UploadedFile>> UploadFilesAsync(string sessionId, IEnumerable<FileUpload> files, string? path = null, CancellationToken cancellationToken = default)
    {
        var route = ApiRoutes.Files(sessionId);
        ArgumentNullException.ThrowIfNull(files);
        using var form = new MultipartFormDataContent();
        // First, so a server reading the form as a stream knows where files go before it meets them.
        if (path is not null)
        {
            form.Add(new StringContent(path), "path");
        }
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file, nameof(files));
            HttpContent part = file.Stream is { } stream ? new CallerOwnedStreamContent(stream) : new ReadOnlyMemoryContent(file.Bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
            form.Add(part, "file", file.FileName);
        }
        var list = await SendAsync(_api.Create(HttpMethod.Post, route, form), WireJsonContext.Default.UploadedFileList, cancellationToken);
        return list.Files ?? [];
    }

    /// <summary>The files in a session's workspace (<c>GET /v1/sessions/{id}/files</c>).</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The files, paths relative to the workspace.</returns>
    /// <exception cref="SessionNotFoundException">No such session.</exception>
    public async Task<IReadOnlyList<WorkspaceFile>> ListFilesAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var list = await SendAsync(_api.Create(HttpMethod.Get, ApiRoutes.Files(sessionId)), WireJsonContext.Default.WorkspaceFileList, cancellationToken);
        return list.Files ?? [];
    }

    /// <summary>Reads a workspace file into memory (<c>GET /v1/sessions/{id}/files/{path}</c>).</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="path">Path relative to the workspace, or absolute under <c>/home/user</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The file's bytes.</returns>
    /// <exception cref="ArgumentException">The path cannot be sent in a URL (see <see cref="UploadFileAsync(string, string, Stream, CancellationToken)"/>).</exception>
    /// <exception cref="FileNotFoundInSessionException">No such file.</exception>
    public async Task<byte[]> DownloadFileAsync(string sessionId, string path, CancellationToken cancellationToken = default)
    {
        using var request = _api.Create(HttpMethod.Get, ApiRoutes.File(sessionId, path), accept: "*/*");
        using var response = await _api.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <summary>
    /// Copies a workspace file into <paramref name="destination"/> as it arrives
    /// (<c>GET /v1/sessions/{id}/files/{path}</c>), without holding it in memory.
    /// </summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="path">Path relative to the workspace, or absolute under <c>/home/user</c>.</param>
    /// <param name="destination">Where to write the bytes; not disposed. Nothing is written when the server refuses.</param>
    /// <param name="cancellationToken">Cancels the request and the copy.</param>
    /// <exception cref="ArgumentException">The path cannot be sent in a URL (see <see cref="UploadFileAsync(string, string, Stream, CancellationToken)"/>).</exception>
    /// <exception cref="FileNotFoundInSessionException">No such file.</exception>
    public async Task DownloadFileAsync(string sessionId, string path, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var request = _api.Create(HttpMethod.Get, ApiRoutes.File(sessionId, path), accept: "*/*");
        using var response = await _api.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await response.Content.CopyToAsync(destination, cancellationToken);
    }

    /// <summary>Deletes a workspace file (<c>DELETE /v1/sessions/{id}/files/{path}</c>).</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <param name="path">Path relative to the workspace, or absolute under <c>/home/user</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="ArgumentException">The path cannot be sent in a URL (see <see cref="UploadFileAsync(string, string, Stream, CancellationToken)"/>).</exception>
    /// <exception cref="FileNotFoundInSessionException">No such file.</exception>
    public Task DeleteFileAsync(string sessionId, string path, CancellationToken cancellationToken = default) =>
        SendAsync(_api.Create(HttpMethod.Delete, ApiRoutes.File(sessionId, path)), cancellationToken);

    private Task<UploadedFile> PutFileAsync(string route, HttpContent content, CancellationToken cancellationToken)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
        return SendAsync(_api.Create(HttpMethod.Put, route, content), VivariumJsonContext.Default.UploadedFile, cancellationToken);
    }
}
