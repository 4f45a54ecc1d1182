using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests.Files;

public class FileCallTests
{
    private static (VivariumClient, FakeHttpHandler) Serve(Func<HttpResponseMessage> response)
    {
        var handler = new FakeHttpHandler((_, _) => response());
        return (TestClient.Create(handler), handler);
    }

    private static HttpResponseMessage Uploaded() => Responses.Json("""{"path": "data/in.csv", "size": 3}""", HttpStatusCode.Created);

    [Theory]
    [InlineData("data/in.csv", "data/in.csv")]
    [InlineData("my file #1?.txt", "my%20file%20%231%3F.txt")]
    [InlineData("100%/a&b=c+d.txt", "100%25/a%26b%3Dc%2Bd.txt")]
    [InlineData("données/日本.csv", "donn%C3%A9es/%E6%97%A5%E6%9C%AC.csv")]
    [InlineData("a\\b.txt", "a%5Cb.txt")]
    [InlineData("./a//b/./c.txt", "a/b/c.txt")]
    [InlineData("/home/user/data/in.csv", "data/in.csv")]
    [InlineData("...", "...")]
    [InlineData(".hidden", ".hidden")]
    public async Task FileRoutes_EscapeEachSegmentAndKeepSlashes(string path, string expected)
    {
        var (client, handler) = Serve(Uploaded);

        await client.UploadFileAsync("ses_1", path, "abc"u8.ToArray());

        Assert.Equal($"/v1/sessions/ses_1/files/{expected}", handler.Single.PathAndQuery);
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/../../ses_2")]
    [InlineData("/etc/passwd")]
    [InlineData("/home/user")]
    [InlineData("/home/user/")]
    [InlineData("./")]
    public async Task FileRoutes_PathAUrlCannotCarry_ThrowsBeforeSending(string path)
    {
        var (client, handler) = Serve(Uploaded);

        Assert.ThrowsAny<ArgumentException>(() => { _ = client.UploadFileAsync("ses_1", path, "abc"u8.ToArray()); });
        Assert.ThrowsAny<ArgumentException>(() => { _ = client.DeleteFileAsync("ses_1", path); });
        await Assert.ThrowsAnyAsync<ArgumentException>(() => client.DownloadFileAsync("ses_1", path));
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task UploadFile_Bytes_PutsTheRawBody()
    {
        var (client, handler) = Serve(Uploaded);

        var uploaded = await client.UploadFileAsync("ses_1", "data/in.csv", "a,b"u8.ToArray());

        var request = handler.Single;
        Assert.Equal(HttpMethod.Put, request.Method);
        Assert.Equal("application/octet-stream", request.ContentType?.MediaType);
        Assert.Equal(3, request.ContentLength);
        Assert.Equal("a,b"u8.ToArray(), request.Body);
        Assert.Equal(new UploadedFile("data/in.csv", 3), uploaded);
    }

    [Fact]
    public async Task UploadFile_Stream_SendsFromItsPositionAndLeavesItOpen()
    {
        var (client, handler) = Serve(Uploaded);
        using var stream = new MemoryStream("skip:a,b"u8.ToArray());
        stream.Position = 5;

        await client.UploadFileAsync("ses_1", "data/in.csv", stream);

        Assert.Equal("a,b"u8.ToArray(), handler.Single.Body);
        Assert.Equal(3, handler.Single.ContentLength);
        Assert.True(stream.CanRead, "the caller's stream was disposed");
    }

    [Fact]
    public async Task UploadFiles_SendsMultipartWithPathFirstThenOneFileFieldEach()
    {
        var (client, handler) = Serve(() => Responses.Json(
            """{"files": [{"path": "data/a.csv", "size": 1}, {"path": "data/é.txt", "size": 2}]}""", HttpStatusCode.Created));
        using var stream = new MemoryStream("xy"u8.ToArray());

        var uploaded = await client.UploadFilesAsync("ses_1", [new FileUpload("a.csv", "a"u8.ToArray()), new FileUpload("é.txt", stream)], path: "data/");

        var request = handler.Single;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/sessions/ses_1/files", request.PathAndQuery);
        Assert.Equal("multipart/form-data", request.ContentType?.MediaType);
        var parts = await ReadParts(request);
        Assert.Collection(parts,
            p =>
            {
                Assert.Equal("path", p.Headers.ContentDisposition?.Name?.Trim('"'));
                Assert.Null(p.Headers.ContentDisposition?.FileName);
                Assert.Equal("data/", p.Text);
            },
            p =>
            {
                Assert.Equal("file", p.Headers.ContentDisposition?.Name?.Trim('"'));
                Assert.Equal("a.csv", p.Headers.ContentDisposition?.FileName?.Trim('"'));
                Assert.Equal("application/octet-stream", p.Headers.ContentType?.MediaType);
                Assert.Equal("a", p.Text);
            },
            p =>
            {
                Assert.Equal("file", p.Headers.ContentDisposition?.Name?.Trim('"'));
                // Non-ASCII names travel in filename* (RFC 5987), which ASP.NET Core prefers.
                Assert.Equal("é.txt", p.Headers.ContentDisposition?.FileNameStar);
                Assert.Equal("xy", p.Text);
            });
        Assert.Equal(["data/a.csv", "data/é.txt"], uploaded.Select(f => f.Path));
        Assert.True(stream.CanRead, "the caller's stream was disposed");
    }

    [Fact]
    public async Task UploadFiles_WithoutPath_SendsOnlyFileFields()
    {
        var (client, handler) = Serve(() => Responses.Json("""{"files": []}""", HttpStatusCode.Created));

        await client.UploadFilesAsync("ses_1", [new FileUpload("a.csv", "a"u8.ToArray())]);

        var part = Assert.Single(await ReadParts(handler.Single));
        Assert.Equal("file", part.Headers.ContentDisposition?.Name?.Trim('"'));
    }

    [Fact]
    public async Task ListFiles_UnwrapsTheList()
    {
        var (client, handler) = Serve(() => Responses.Json(
            """{"files": [{"path": "a.txt", "size": 1, "modified_at": "2030-01-02T03:04:05Z"}]}"""));

        var files = await client.ListFilesAsync("ses_1");

        Assert.Equal(HttpMethod.Get, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1/files", handler.Single.PathAndQuery);
        Assert.Equal(new WorkspaceFile("a.txt", 1, new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero)), Assert.Single(files));
    }

    [Fact]
    public async Task DownloadFile_ReturnsTheBytes()
    {
        var (client, handler) = Serve(() => Responses.Bytes([1, 2, 3], "image/png"));

        var bytes = await client.DownloadFileAsync("ses_1", "out/plot.png");

        Assert.Equal(HttpMethod.Get, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1/files/out/plot.png", handler.Single.PathAndQuery);
        Assert.Equal([1, 2, 3], bytes);
    }

    [Fact]
    public async Task DownloadFile_IntoAStream_CopiesAndLeavesItOpen()
    {
        var (client, _) = Serve(() => Responses.Bytes([1, 2, 3]));
        using var destination = new MemoryStream();

        await client.DownloadFileAsync("ses_1", "a.bin", destination);

        Assert.Equal([1, 2, 3], destination.ToArray());
    }

    [Fact]
    public async Task DownloadFile_Missing_ThrowsAndWritesNothing()
    {
        var (client, _) = Serve(() => Responses.Problem(HttpStatusCode.NotFound, "file_not_found"));
        using var destination = new MemoryStream();

        await Assert.ThrowsAsync<FileNotFoundInSessionException>(() => client.DownloadFileAsync("ses_1", "a.bin", destination));
        Assert.Equal(0, destination.Length);
    }

    [Fact]
    public async Task DeleteFile_SendsDelete()
    {
        var (client, handler) = Serve(Responses.NoContent);

        await client.DeleteFileAsync("ses_1", "a b.txt");

        Assert.Equal(HttpMethod.Delete, handler.Single.Method);
        Assert.Equal("/v1/sessions/ses_1/files/a%20b.txt", handler.Single.PathAndQuery);
    }

    private sealed record Part(HttpContentHeaders Headers, string Text);

    /// <summary>Splits a recorded multipart body on its boundary; enough for bodies the tests build.</summary>
    private static async Task<List<Part>> ReadParts(RecordedRequest request)
    {
        var boundary = request.ContentType!.Parameters.Single(p => p.Name == "boundary").Value!.Trim('"');
        var parts = new List<Part>();
        foreach (var raw in request.BodyText.Split("--" + boundary).Skip(1))
        {
            if (raw.StartsWith("--", StringComparison.Ordinal))
            {
                break;
            }
            var split = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            using var content = new StringContent(raw[(split + 4)..^2]);
            content.Headers.Clear();
            foreach (var line in raw[2..split].Split("\r\n"))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                content.Headers.TryAddWithoutValidation(line[..colon], line[(colon + 1)..].Trim());
            }
            parts.Add(new Part(content.Headers, await content.ReadAsStringAsync()));
        }
        return parts;
    }
}
