using System.Net;
using System.Net.Http.Headers;

namespace Vivarium.Server.Tests;

[Collection("Server")]
public sealed class FilesApiTests(ServerFixture server)
{
    [Fact]
    public async Task UploadListDownloadDelete_RoundTripsBytes()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
            var put = await client.PutAsync($"/v1/sessions/{id}/files/data/all-bytes.bin", new ByteArrayContent(bytes));
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            var written = await put.JsonAsync();
            Assert.Equal("data/all-bytes.bin", written.GetProperty("path").GetString());
            Assert.Equal(256, written.GetProperty("size").GetInt64());

            using var form = new MultipartFormDataContent();
            var csv = new ByteArrayContent("a,b\n1,2\n"u8.ToArray());
            csv.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
            form.Add(csv, "file", "table.csv");
            var post = await client.PostAsync($"/v1/sessions/{id}/files", form);
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
            Assert.Equal("table.csv", (await post.JsonAsync()).GetProperty("files")[0].GetProperty("path").GetString());

            // Python sees both, and what it writes is listed and downloadable.
            var execution = await client.ExecuteAsync(id, "open('data/all-bytes.bin','rb').read() == bytes(range(256)), open('table.csv').read().splitlines()[1]");
            Assert.Equal("(True, '1,2')", execution.GetProperty("result").GetProperty("text/plain").GetString());

            var listing = await (await client.GetAsync($"/v1/sessions/{id}/files")).JsonAsync();
            var paths = listing.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToList();
            Assert.Equal(["data/all-bytes.bin", "table.csv"], paths);

            var download = await client.GetAsync($"/v1/sessions/{id}/files/data/all-bytes.bin");
            Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
            var csvDownload = await client.GetAsync($"/v1/sessions/{id}/files/table.csv");
            Assert.Equal("text/csv", csvDownload.Content.Headers.ContentType!.MediaType);

            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sessions/{id}/files/table.csv")).StatusCode);
            await (await client.GetAsync($"/v1/sessions/{id}/files/table.csv")).AssertProblemAsync(404, "file_not_found");
            await (await client.DeleteAsync($"/v1/sessions/{id}/files/table.csv")).AssertProblemAsync(404, "file_not_found");
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Theory]
    [InlineData("..%2F..%2Fetc%2Fpasswd")]
    [InlineData("a%2F..%2F..%2Fescape.txt")]
    [InlineData("%2Fetc%2Fpasswd")]
    public async Task PathsThatLeaveTheWorkspace_AnswerInvalidPath(string escapedPath)
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            var put = await client.PutAsync($"/v1/sessions/{id}/files/{escapedPath}", new ByteArrayContent("x"u8.ToArray()));
            await put.AssertProblemAsync(400, "invalid_path");
            await (await client.GetAsync($"/v1/sessions/{id}/files/{escapedPath}")).AssertProblemAsync(400, "invalid_path");
            var listing = await (await client.GetAsync($"/v1/sessions/{id}/files")).JsonAsync();
            Assert.Empty(listing.GetProperty("files").EnumerateArray());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task ANulByteInThePath_IsRefusedAndWritesNothing()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            // Kestrel itself refuses a NUL in the request line, before any of our code runs.
            var put = await client.PutAsync($"/v1/sessions/{id}/files/bad%00name.txt", new ByteArrayContent("x"u8.ToArray()));
            Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
            var listing = await (await client.GetAsync($"/v1/sessions/{id}/files")).JsonAsync();
            Assert.Empty(listing.GetProperty("files").EnumerateArray());
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }

    [Fact]
    public async Task ASymlinkOutOfTheWorkspace_IsNotFollowedByTheFilesApi()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        try
        {
            await client.ExecuteAsync(id, "import os\nos.symlink('/etc', 'etc-link')\nos.symlink('/etc/passwd', 'passwd-link')");
            await (await client.GetAsync($"/v1/sessions/{id}/files/passwd-link")).AssertProblemAsync(400, "invalid_path");
            await (await client.PutAsync($"/v1/sessions/{id}/files/etc-link/evil", new ByteArrayContent("x"u8.ToArray()))).AssertProblemAsync(400, "invalid_path");
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
    }
}
