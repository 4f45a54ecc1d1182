using System.Buffers;
using System.Text;
using System.Text.Json;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Files;
using Vivarium.Server.Compat;

namespace Vivarium.Server.Tests;

/// <summary>The pure translation rules of the E2B and Terrarium surfaces (no server needed).</summary>
public sealed class CompatWireTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static Dictionary<string, JsonElement> Bundle(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    private static JsonElement Parse(byte[] line)
    {
        Assert.Equal((byte)'\n', line[^1]);
        return JsonDocument.Parse(line.AsMemory(0, line.Length - 1)).RootElement.Clone();
    }

    [Fact]
    public void ResultLine_NamesMimeTypesAsE2bDoes_AndKeepsTheRestInExtra()
    {
        var line = Parse(E2bWire.ResultLine(Bundle("""
            {"text/plain": "'hi'", "text/html": "<b>hi</b>", "image/png": "iVBOR", "application/json": {"a": [1, 2]},
             "image/svg+xml": "<svg/>", "text/markdown": "# t", "text/latex": "$x$", "application/javascript": "f()",
             "application/pdf": "JVBER", "image/jpeg": "/9j/", "application/vnd.custom+json": {"k": true}}
            """), isMainResult: true));

        Assert.Equal("result", line.GetProperty("type").GetString());
        Assert.Equal("hi", line.GetProperty("text").GetString());
        Assert.Equal("<b>hi</b>", line.GetProperty("html").GetString());
        Assert.Equal("iVBOR", line.GetProperty("png").GetString());
        Assert.Equal("<svg/>", line.GetProperty("svg").GetString());
        Assert.Equal("# t", line.GetProperty("markdown").GetString());
        Assert.Equal("$x$", line.GetProperty("latex").GetString());
        Assert.Equal("f()", line.GetProperty("javascript").GetString());
        Assert.Equal("JVBER", line.GetProperty("pdf").GetString());
        Assert.Equal("/9j/", line.GetProperty("jpeg").GetString());
        Assert.Equal(2, line.GetProperty("json").GetProperty("a")[1].GetInt32());
        Assert.True(line.GetProperty("extra").GetProperty("application/vnd.custom+json").GetProperty("k").GetBoolean());
        Assert.True(line.GetProperty("is_main_result").GetBoolean());
    }

    [Fact]
    public void ResultLine_ForADisplay_IsNotTheMainResult_AndHasAnEmptyExtra()
    {
        var line = Parse(E2bWire.ResultLine(Bundle("""{"text/plain": "<Figure>", "image/png": "AAAA"}"""), isMainResult: false));
        Assert.False(line.GetProperty("is_main_result").GetBoolean());
        Assert.Equal(JsonValueKind.Object, line.GetProperty("extra").ValueKind);
        Assert.Empty(line.GetProperty("extra").EnumerateObject());
        Assert.False(line.TryGetProperty("html", out _));
    }

    [Theory]
    [InlineData("'hello'", "hello")]
    [InlineData("\"it's\"", "it's")]
    [InlineData("42", "42")]
    [InlineData("'unbalanced", "'unbalanced")]
    [InlineData("''", "")]
    public void StripQuotes_FollowsE2bsServer(string text, string expected) =>
        Assert.Equal(expected, E2bWire.StripQuotes(text));

    [Fact]
    public void LiveLines_MapEachOutput_AndSkipClearOutput()
    {
        var stdout = Parse(E2bWire.LiveLine(new ExecutionOutputEvent(new StreamOutput("stdout", "a\n")), Now)!);
        Assert.Equal("stdout", stdout.GetProperty("type").GetString());
        Assert.Equal("a\n", stdout.GetProperty("text").GetString());
        Assert.StartsWith("2026-01-02T03:04:05", stdout.GetProperty("timestamp").GetString());

        var stderr = Parse(E2bWire.LiveLine(new ExecutionOutputEvent(new StreamOutput("stderr", "w")), Now)!);
        Assert.Equal("stderr", stderr.GetProperty("type").GetString());

        var error = Parse(E2bWire.LiveLine(new ExecutionOutputEvent(new ErrorOutput("KeyError", "'date'", "tb")), Now)!);
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("KeyError", error.GetProperty("name").GetString());
        Assert.Equal("'date'", error.GetProperty("value").GetString());
        Assert.Equal("tb", error.GetProperty("traceback").GetString());

        var result = Parse(E2bWire.LiveLine(new ExecutionOutputEvent(new ExecuteResultOutput(3, Bundle("""{"text/plain":"2"}"""))), Now)!);
        Assert.True(result.GetProperty("is_main_result").GetBoolean());

        Assert.Null(E2bWire.LiveLine(new ExecutionClearedEvent(), Now));
    }

    private static Execution Execution(ExecutionStatus status, IReadOnlyList<ExecutionOutput> outputs, ExecutionError? error = null,
        bool stdoutTruncated = false, int? count = 4) => new()
    {
        Id = "exe_1",
        SessionId = "ses_1",
        Status = status,
        ExecutionCount = count,
        Stdout = "",
        Stderr = "",
        StdoutTruncated = stdoutTruncated,
        Outputs = outputs,
        Error = error,
        Files = [],
        Summary = "summary",
    };

    [Fact]
    public void ClosingLines_CarryTheCount_ForAnOrdinaryRun()
    {
        var lines = E2bWire.ClosingLines(Execution(ExecutionStatus.Ok, [new StreamOutput("stdout", "x")]), Now).Select(Parse).ToList();
        var only = Assert.Single(lines);
        Assert.Equal("number_of_executions", only.GetProperty("type").GetString());
        Assert.Equal(4, only.GetProperty("execution_count").GetInt32());
    }

    [Fact]
    public void ClosingLines_SendTheKeptTail_AndTheReasonASandboxDied()
    {
        var crash = new ExecutionError("OutOfMemory", "the sandbox ran out of memory", "");
        var execution = Execution(ExecutionStatus.Crashed,
            [new StreamOutput("stdout", "head"), new StreamOutput("stdout", "[… 10 characters omitted …]tail"), new ErrorOutput(crash.Name, crash.Value, crash.Traceback)],
            crash, stdoutTruncated: true, count: null);
        var lines = E2bWire.ClosingLines(execution, Now).Select(Parse).ToList();
        Assert.Equal(["stdout", "error"], lines.Select(l => l.GetProperty("type").GetString()));
        Assert.EndsWith("tail", lines[0].GetProperty("text").GetString());
        Assert.Equal("OutOfMemory", lines[1].GetProperty("name").GetString());
    }

    [Fact]
    public void FixedLines_AreWhatTheSdkLooksFor()
    {
        Assert.Equal("{\"type\":\"end_of_execution\"}\n", Encoding.UTF8.GetString(E2bWire.EndOfExecutionLine));
        Assert.Equal("keepalive", Parse(E2bWire.KeepaliveLine).GetProperty("type").GetString());
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("python", true)]
    [InlineData("Python3", true)]
    [InlineData("js", false)]
    [InlineData("r", false)]
    public void IsPython(string? language, bool expected) => Assert.Equal(expected, E2bWire.IsPython(language));

    [Theory]
    [InlineData("/home/user", "")]
    [InlineData("/home/user/", "")]
    [InlineData("~", "")]
    [InlineData("", "")]
    [InlineData(".", "")]
    [InlineData("/home/user/data/in.csv", "data/in.csv")]
    [InlineData("data/./in.csv", "data/in.csv")]
    [InlineData("~/notes.txt", "notes.txt")]
    public void Relative_ResolvesAgainstTheHome(string path, string expected) => Assert.Equal(expected, E2bWire.Relative(path));

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/home/user/../../etc/passwd")]
    [InlineData("../x")]
    public void Relative_RefusesPathsOutsideTheWorkspace(string path)
    {
        var refused = Assert.Throws<VivariumException>(() => E2bWire.Relative(path));
        Assert.Equal(ErrorCodes.InvalidPath, refused.Code);
    }

    private static readonly WorkspaceFile[] Files =
    [
        new("a.txt", 1, Now),
        new("many/b.txt", 2, Now),
        new("many/sub/c.txt", 3, Now),
        new("many/sub/deeper/d.txt", 4, Now),
    ];

    [Fact]
    public void ListDirectory_ShowsFilesAndTheDirectoriesThatHoldThem()
    {
        var root = E2bWire.ListDirectory(Files, "", 1)!;
        Assert.Equal(["a.txt", "many"], root.Select(e => e.RelativePath));
        Assert.False(root[0].IsDirectory);
        Assert.True(root[1].IsDirectory);

        var many = E2bWire.ListDirectory(Files, "many", 1)!;
        Assert.Equal(["many/b.txt", "many/sub"], many.Select(e => e.RelativePath));

        var deep = E2bWire.ListDirectory(Files, "many", 2)!;
        Assert.Equal(["many/b.txt", "many/sub", "many/sub/c.txt", "many/sub/deeper"], deep.Select(e => e.RelativePath));
        Assert.Equal(3, deep.Single(e => e.Name == "c.txt").Size);
    }

    [Fact]
    public void ListDirectory_SaysNothingForAFileOrAMissingDirectory_AndEmptyForAnEmptyWorkspace()
    {
        Assert.Null(E2bWire.ListDirectory(Files, "a.txt", 1));
        Assert.Null(E2bWire.ListDirectory(Files, "nope", 1));
        Assert.Null(E2bWire.ListDirectory(Files, "man", 1)); // a prefix of "many" is not a directory
        Assert.Empty(E2bWire.ListDirectory([], "", 1)!);
    }

    [Fact]
    public void Stat_KnowsFilesDirectoriesAndTheHome()
    {
        Assert.False(E2bWire.Stat(Files, "a.txt")!.IsDirectory);
        Assert.True(E2bWire.Stat(Files, "many/sub")!.IsDirectory);
        Assert.True(E2bWire.Stat([], "")!.IsDirectory);
        Assert.Equal("user", E2bWire.Stat([], "")!.Name);
        Assert.Null(E2bWire.Stat(Files, "many/su"));
    }

    [Fact]
    public void EntryInfo_UsesTheProtobufJsonMapping()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, E2bWire.WriterOptions))
        {
            E2bWire.WriteEntryInfo(writer, new E2bWire.Entry("many/b.txt", false, 1234567890123, Now));
        }
        var entry = JsonDocument.Parse(buffer.WrittenMemory).RootElement;
        Assert.Equal("b.txt", entry.GetProperty("name").GetString());
        Assert.Equal("FILE_TYPE_FILE", entry.GetProperty("type").GetString());
        Assert.Equal("/home/user/many/b.txt", entry.GetProperty("path").GetString());
        Assert.Equal("1234567890123", entry.GetProperty("size").GetString());
        Assert.Equal("2026-01-02T03:04:05.0000000Z", entry.GetProperty("modifiedTime").GetString());
        Assert.False(entry.TryGetProperty("mode", out _));
    }

    [Theory]
    [InlineData(ErrorCodes.FileNotFound, "not_found", 404)]
    [InlineData(ErrorCodes.InvalidPath, "invalid_argument", 400)]
    [InlineData(ErrorCodes.SandboxUnavailable, "unavailable", 503)]
    [InlineData("something_new", "internal", 500)]
    public void ConnectCodes(string code, string connect, int status)
    {
        Assert.Equal(connect, E2bWire.ConnectCode(code));
        Assert.Equal(status, E2bWire.ConnectStatus(connect));
    }

    [Fact]
    public void CreateRefusals_NameWhatIsMissing()
    {
        Assert.Null(E2bApi.Refusal(new E2bNewSandbox(), "code-interpreter-v1"));
        Assert.Null(E2bApi.Refusal(new E2bNewSandbox { AllowInternetAccess = false, AutoPause = false }, "code-interpreter"));
        Assert.Contains("template 'base'", E2bApi.Refusal(new E2bNewSandbox(), "base"));
        Assert.Contains("network", E2bApi.Refusal(new E2bNewSandbox { AllowInternetAccess = true }, "code-interpreter-v1"));
        Assert.Contains("network", E2bApi.Refusal(new E2bNewSandbox { Network = JsonDocument.Parse("""{"allowOut":["1.1.1.1"]}""").RootElement }, "code-interpreter-v1"));
        Assert.Null(E2bApi.Refusal(new E2bNewSandbox { Network = JsonDocument.Parse("{}").RootElement }, "code-interpreter-v1"));
        Assert.Contains("pausing", E2bApi.Refusal(new E2bNewSandbox { AutoPause = true }, "code-interpreter-v1"));
        Assert.Contains("MCP", E2bApi.Refusal(new E2bNewSandbox { Mcp = JsonDocument.Parse("""{"x":{}}""").RootElement }, "code-interpreter-v1"));
    }

    [Fact]
    public void MetadataQuery_IsDecodedAsTheSdkEncodesIt()
    {
        var parsed = E2bApi.ParseMetadataQuery("run=e2b&user%20name=al%26ice&empty=");
        Assert.Equal("e2b", parsed["run"]);
        Assert.Equal("al&ice", parsed["user name"]);
        Assert.Equal("", parsed["empty"]);
        Assert.Empty(E2bApi.ParseMetadataQuery(null));
    }

    private static string FinalExpression(string repr)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, E2bWire.WriterOptions))
        {
            writer.WriteStartObject();
            TerrariumWire.WriteFinalExpression(writer, repr);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Theory]
    [InlineData("2", """{"final_expression":2}""")]
    [InlineData("-17", """{"final_expression":-17}""")]
    [InlineData("123456789012345678901234567890", """{"final_expression":123456789012345678901234567890}""")]
    [InlineData("2.5", """{"final_expression":2.5}""")]
    [InlineData("1e-05", """{"final_expression":1E-05}""")]
    [InlineData("nan", """{"final_expression":null}""")]
    [InlineData("True", """{"final_expression":true}""")]
    [InlineData("None", "{}")]
    [InlineData("'text'", """{"final_expression":"text"}""")]
    [InlineData("'it\\'s\\n'", """{"final_expression":"it's\n"}""")]
    [InlineData("[1, 2]", """{"final_expression":"[1, 2]"}""")]
    [InlineData("array([1, 2])", """{"final_expression":"array([1, 2])"}""")]
    public void FinalExpression_IsWhatPyodideWouldHaveConverted(string repr, string expected) =>
        Assert.Equal(expected, FinalExpression(repr));

    [Theory]
    [InlineData("'a'", "a")]
    [InlineData("\"quote ' inside\"", "quote ' inside")]
    [InlineData("'\\x41\\u00e9\\U0001F600\\t'", "Aé😀\t")]
    [InlineData("'\\\\'", "\\")]
    public void UnquotePythonString_Decodes(string repr, string expected) =>
        Assert.Equal(expected, TerrariumWire.UnquotePythonString(repr));

    [Theory]
    [InlineData("plain")]
    [InlineData("'a' + 'b'")]
    [InlineData("'bad\\q'")]
    [InlineData("'\\x4'")]
    public void UnquotePythonString_RefusesWhatIsNotOneStrRepr(string repr) =>
        Assert.Null(TerrariumWire.UnquotePythonString(repr));

    [Fact]
    public void TerrariumError_GivesTheExceptionTypeAndTraceback_OrSaysItTimedOut()
    {
        var failed = Execution(ExecutionStatus.Error, [], new ExecutionError("NameError", "name 'x' is not defined", "Traceback…\nNameError: name 'x' is not defined"));
        Assert.Equal(("NameError", "Traceback…\nNameError: name 'x' is not defined"), TerrariumWire.Error(failed, TimeSpan.FromSeconds(30)));

        var slow = Execution(ExecutionStatus.Timeout, [], new ExecutionError("KeyboardInterrupt", "", "tb"));
        var (type, message) = TerrariumWire.Error(slow, TimeSpan.FromSeconds(30));
        Assert.Equal("TimeoutError", type);
        Assert.Contains("30 s", message);
    }
}
