using ModelContextProtocol.Protocol;

namespace Vivarium.Mcp.Tests;

/// <summary>Bad input is a tool result with isError, naming the argument and the rule; files round-trip.</summary>
[Collection("Mcp")]
public sealed class ToolInputTests(McpServerFixture server)
{
    [Fact]
    public async Task Bad_arguments_are_tool_errors_that_name_the_argument_and_the_rule()
    {
        await using var client = await server.ConnectAsync();

        Assert.Contains("'code' is required", (await client.CallAsync("execute_python")).AssertError());
        Assert.Contains("'code' must be a string, got a number", (await client.CallAsync("execute_python", new { code = 1 })).AssertError());
        Assert.Contains("'timeout_seconds' must be a number, got a string",
            (await client.CallAsync("execute_python", new { code = "1", timeout_seconds = "soon" })).AssertError());
        Assert.Contains("'timeout_seconds' must be between",
            (await client.CallAsync("execute_python", new { code = "1", timeout_seconds = 1e9 })).AssertError());
        Assert.Contains("has no argument 'bogus'", (await client.CallAsync("execute_python", new { code = "1", bogus = true })).AssertError());
        Assert.Contains("session_id", (await client.CallAsync("execute_python", new { code = "1", session_id = "ses_unknown" })).AssertError());

        Assert.Contains("leaves the workspace", (await client.CallAsync("upload_file", new { path = "../escape.txt", text = "x" })).AssertError());
        Assert.Contains("'text' or as 'content_base64'", (await client.CallAsync("upload_file", new { path = "a.txt" })).AssertError());
        Assert.Contains("not both", (await client.CallAsync("upload_file", new { path = "a.txt", text = "x", content_base64 = "eA==" })).AssertError());
        Assert.Contains("not valid base64", (await client.CallAsync("upload_file", new { path = "a.bin", content_base64 = "%%%" })).AssertError());
        var big = Convert.ToBase64String(new byte[McpServerFixture.MaxFileBytes + 1]);
        Assert.Contains("over the limit", (await client.CallAsync("upload_file", new { path = "big.bin", content_base64 = big })).AssertError());

        Assert.Contains("inside /home/user", (await client.CallAsync("read_file", new { path = "/etc/passwd" })).AssertError());
        (await client.CallAsync("execute_python", new { code = "open('large.bin', 'wb').write(bytes(70000))" })).AssertOk();
        Assert.Contains("over the limit", (await client.CallAsync("read_file", new { path = "large.bin" })).AssertError());
        Assert.Contains("list_files", (await client.CallAsync("read_file", new { path = "missing.txt" })).AssertError());
    }

    [Fact]
    public async Task Files_round_trip_as_text_blobs_resource_links_and_resources()
    {
        await using var client = await server.ConnectAsync();
        (await client.CallAsync("upload_file", new { path = "data/in.csv", text = "a,b\n1,2\n3,4\n" })).AssertOk();
        var executed = (await client.CallAsync("execute_python", new
        {
            code = "import pandas as pd\ndf = pd.read_csv('data/in.csv')\ndf['c'] = df.a + df.b\ndf.to_csv('out.csv', index=False)\n" +
                   "open('blob.bin', 'wb').write(bytes(range(256)))\nprint(df.c.sum())",
        })).AssertOk();
        Assert.Contains("10", executed.Text());
        var links = executed.Content.OfType<ResourceLinkBlock>().ToDictionary(l => l.Name);
        Assert.Equal(["blob.bin", "out.csv"], links.Keys.Order());
        Assert.Equal($"vivarium://sessions/{executed.SessionId()}/files/out.csv", links["out.csv"].Uri);

        Assert.Equal("a,b,c\n1,2,3\n3,4,7\n", (await client.CallAsync("read_file", new { path = "out.csv" })).AssertOk().Text());
        var blob = (await client.CallAsync("read_file", new { path = "/home/user/blob.bin" })).AssertOk();
        var embedded = Assert.IsType<BlobResourceContents>(Assert.Single(blob.Content.OfType<EmbeddedResourceBlock>()).Resource);
        Assert.Equal(Enumerable.Range(0, 256).Select(i => (byte)i), embedded.DecodedData.ToArray());

        var read = await client.ReadResourceAsync(links["out.csv"].Uri);
        Assert.Equal("a,b,c\n1,2,3\n3,4,7\n", Assert.IsType<TextResourceContents>(Assert.Single(read.Contents)).Text);
        var listed = await client.ListResourcesAsync();
        Assert.Contains(listed, r => r.Uri == links["blob.bin"].Uri);
        var template = Assert.Single(await client.ListResourceTemplatesAsync());
        Assert.Equal("vivarium://sessions/{session_id}/files/{+path}", template.UriTemplate);

        var files = (await client.CallAsync("list_files")).AssertOk().Text();
        Assert.Contains("data/in.csv", files);
        Assert.Contains("out.csv", files);
    }
}
