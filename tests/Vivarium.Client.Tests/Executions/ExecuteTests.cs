using System.Text.Json;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests.Executions;

public class ExecuteTests
{
    [Fact]
    public async Task Execute_PostsCodeAndTimeoutInWholeSeconds()
    {
        var handler = new FakeHttpHandler(Responses.Json(Samples.Execution()));
        var client = TestClient.Create(handler);

        await client.ExecuteAsync("ses_1", "print(\"é\")", TimeSpan.FromMilliseconds(2500));

        var request = handler.Single;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/sessions/ses_1/execute", request.PathAndQuery);
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal(["code", "timeout_seconds"], body.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("print(\"é\")", body.RootElement.GetProperty("code").GetString());
        Assert.Equal(3, body.RootElement.GetProperty("timeout_seconds").GetInt32());
        Assert.Equal("application/json", Assert.Single(request.Headers.Accept).MediaType);
    }

    [Fact]
    public async Task Execute_WithoutTimeout_LeavesItOut()
    {
        var handler = new FakeHttpHandler(Responses.Json(Samples.Execution()));

        await TestClient.Create(handler).ExecuteAsync("ses_1", "1");

        Assert.Equal("""{"code":"1"}""", handler.Single.BodyText);
    }

    [Fact]
    public async Task Execute_Answer_IsReadWhole()
    {
        var client = TestClient.Create(new FakeHttpHandler(Responses.Json(Samples.Execution())));

        var execution = await client.ExecuteAsync("ses_1", "x");

        Assert.Equal("exe_1", execution.Id);
        Assert.Equal("ses_1", execution.SessionId);
        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal(3, execution.ExecutionCount);
        Assert.Equal("hello\n", execution.Stdout);
        Assert.True(execution.StderrTruncated);
        Assert.Equal(4, execution.Outputs.Count);
        Assert.Equal(new ExecutionError("KeyError", "'date'", "Traceback..."), execution.Error);
        Assert.Equal(new FileChange("out.csv", 1234, FileChangeKind.Created), Assert.Single(execution.Files));
        Assert.Equal(3.1, execution.DurationMs);
        Assert.Equal("ran", execution.Summary);
    }

    [Fact]
    public void Execution_Conveniences_ReadTextImagesAndSuccess()
    {
        var execution = JsonSerializer.Deserialize(Samples.Execution(), VivariumJsonContext.Default.Execution)!;

        Assert.True(execution.IsSuccess);
        Assert.Equal("2", execution.Text);
        Assert.Equal(Samples.Png, Assert.Single(execution.Images));
    }

    [Theory]
    [InlineData("error", ExecutionStatus.Error)]
    [InlineData("timeout", ExecutionStatus.Timeout)]
    [InlineData("interrupted", ExecutionStatus.Interrupted)]
    [InlineData("crashed", ExecutionStatus.Crashed)]
    [InlineData("exploded", ExecutionStatus.Unknown)]
    public void Execution_OtherStatuses_AreNotSuccess(string status, ExecutionStatus expected)
    {
        var execution = JsonSerializer.Deserialize(Samples.Execution(status), VivariumJsonContext.Default.Execution)!;

        Assert.Equal(expected, execution.Status);
        Assert.False(execution.IsSuccess);
    }

    [Fact]
    public void Execution_Images_ComeFromDisplayAndResultInOrderAndSkipBadBase64()
    {
        var json = $$$"""
            {"id": "exe_1", "session_id": "ses_1", "status": "ok", "outputs": [
              {"type": "execute_result", "execution_count": 1, "data": {"image/png": "{{{Convert.ToBase64String([1, 2])}}}"}},
              {"type": "display_data", "data": {"image/png": "not base64!"}},
              {"type": "display_data", "data": {"text/plain": "no image"}},
              {"type": "display_data", "data": {"image/png": "{{{Convert.ToBase64String([3, 4, 5])}}}\n"}}]}
            """;

        var execution = JsonSerializer.Deserialize(json, VivariumJsonContext.Default.Execution)!;

        Assert.Equal([new byte[] { 1, 2 }, [3, 4, 5]], execution.Images);
        Assert.Null(execution.Text);
        Assert.Empty(execution.Files);
        Assert.Equal("", execution.Stdout);
    }

    [Fact]
    public void Execution_UnknownOutputType_IsKeptWhole()
    {
        var json = """{"id":"exe_1","session_id":"ses_1","status":"ok","outputs":[{"name":"x","type":"update_display_data","data":{}}]}""";

        var execution = JsonSerializer.Deserialize(json, VivariumJsonContext.Default.Execution)!;

        var unknown = Assert.IsType<UnknownOutput>(Assert.Single(execution.Outputs));
        Assert.Equal("update_display_data", unknown.Type);
        Assert.Equal("x", unknown.Json.GetProperty("name").GetString());
    }

    [Fact]
    public void Execution_TypeAfterOtherMembers_IsStillRecognised()
    {
        var json = """{"id":"exe_1","session_id":"ses_1","outputs":[{"name":"stdout","text":"a","type":"stream"}]}""";

        var execution = JsonSerializer.Deserialize(json, VivariumJsonContext.Default.Execution)!;

        Assert.Equal(new StreamOutput("stdout", "a"), Assert.Single(execution.Outputs));
    }

    [Fact]
    public void Execution_SerializedWithTheContext_RoundTripsInTheWireShape()
    {
        var execution = JsonSerializer.Deserialize(Samples.Execution(), VivariumJsonContext.Default.Execution)!;

        var json = JsonSerializer.Serialize(execution, VivariumJsonContext.Default.Execution);
        var again = JsonSerializer.Deserialize(json, VivariumJsonContext.Default.Execution)!;

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("ses_1", root.GetProperty("session_id").GetString());
        Assert.Equal("ok", root.GetProperty("status").GetString());
        Assert.Equal("created", root.GetProperty("files")[0].GetProperty("change").GetString());
        // "type" comes first in each output, as a discriminator should; conveniences are not serialized.
        Assert.Equal("type", root.GetProperty("outputs")[0].EnumerateObject().First().Name);
        Assert.False(root.TryGetProperty("is_success", out _));
        Assert.False(root.TryGetProperty("images", out _));
        Assert.Equal(execution.Outputs[0], again.Outputs[0]);
        Assert.Equal(execution.Outputs.Select(o => o.Type), again.Outputs.Select(o => o.Type));
        Assert.Equal(execution.Images, again.Images);
    }

    [Fact]
    public async Task ExecuteOnce_PostsCodeAndBase64FilesAndDecodesTheProducedFiles()
    {
        var answer = $$"""{"execution": {{Samples.Execution()}}, "files": [{"path": "out.png", "size": 10, "content_base64": "{{Samples.PngBase64}}"}]}""";
        var handler = new FakeHttpHandler(Responses.Json(answer));
        var client = TestClient.Create(handler);

        var result = await client.ExecuteOnceAsync("open('out.png','wb')", [new InputFile("in.csv", "a,b\n"u8.ToArray())], TimeSpan.FromSeconds(30));

        var request = handler.Single;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/execute", request.PathAndQuery);
        Assert.Equal(
            """{"code":"open('out.png','wb')","timeout_seconds":30,"files":[{"path":"in.csv","content_base64":"YSxiCg=="}]}""",
            request.BodyText.Replace("\\u0027", "'", StringComparison.Ordinal));
        Assert.Equal("exe_1", result.Execution.Id);
        var file = Assert.Single(result.Files);
        Assert.Equal("out.png", file.Path);
        Assert.Equal(10, file.Size);
        Assert.Equal(Samples.Png, file.Content);
    }

    [Fact]
    public async Task ExecuteOnce_WithoutFiles_LeavesThemOut()
    {
        var handler = new FakeHttpHandler(Responses.Json($$"""{"execution": {{Samples.Execution()}}, "files": []}"""));

        var result = await TestClient.Create(handler).ExecuteOnceAsync("1");

        Assert.Equal("""{"code":"1"}""", handler.Single.BodyText);
        Assert.Empty(result.Files);
    }

    [Fact]
    public async Task Execute_TimeoutTooLongForTheWire_ThrowsBeforeSending()
    {
        var handler = new FakeHttpHandler(Responses.Json(Samples.Execution()));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => TestClient.Create(handler).ExecuteAsync("ses_1", "1", TimeSpan.MaxValue));
        Assert.Empty(handler.Requests);
    }
}
