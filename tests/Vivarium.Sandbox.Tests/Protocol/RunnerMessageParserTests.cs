using System.Text;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Tests.Protocol;

public sealed class RunnerMessageParserTests
{
    private static RunnerMessage? Parse(string json) => RunnerMessageParser.Parse(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("{")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"a\"} trailing")]
    [InlineData("\"a string\"")]
    [InlineData("[1, 2]")]
    [InlineData("null")]
    public void Parse_MalformedOrNotAnObject_Throws(string json)
    {
        Assert.Throws<ProtocolViolationException>(() => Parse(json));
    }

    [Fact]
    public void Parse_InvalidUtf8_Throws()
    {
        byte[] frame = [.. "{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \""u8, 0xff, 0xfe, .. "\"}"u8];

        Assert.Throws<ProtocolViolationException>(() => RunnerMessageParser.Parse(frame));
    }

    [Theory]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"a\\ud800b\"}")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"\\uDC00\"}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"text/plain\": \"\\ud83d\"}}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"application/json\": {\"k\": [\"\\udfff\"]}}}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"text/plain\": \"x\"}, \"metadata\": {\"\\ud800\": 1}}")]
    public void Parse_UnpairedSurrogateEscape_Throws(string json)
    {
        // Left in, these would throw InvalidOperationException wherever the engine later reads the string.
        Assert.Throws<ProtocolViolationException>(() => Parse(json));
    }

    [Fact]
    public void Parse_EscapedSurrogatePair_IsAccepted()
    {
        var stream = Assert.IsType<StreamMessage>(Parse("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"\\ud83d\\ude00 \\\\ud800 is text\"}"));

        Assert.Equal("\U0001F600 \\ud800 is text", stream.Text);
    }

    [Fact]
    public void Parse_NestedDeeperThanTheLimit_Throws()
    {
        var deep = new string('[', 200) + new string(']', 200);

        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"display_data\", \"data\": {{\"application/json\": {deep}}}}}"));
    }

    [Theory]
    [InlineData("{\"name\": \"stdout\", \"text\": \"no type\"}")]
    [InlineData("{\"type\": 7}")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": 42}")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdin\", \"text\": \"a\"}")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\"}")]
    [InlineData("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"a\", \"parent\": 5}")]
    [InlineData("{\"type\": \"ready\", \"protocol\": \"1\", \"python\": \"3.11.2\"}")]
    [InlineData("{\"type\": \"ready\", \"protocol\": 1.5, \"python\": \"3.11.2\"}")]
    [InlineData("{\"type\": \"ready\", \"protocol\": 1, \"python\": \"3.11.2\", \"packages\": {\"numpy\": 1}}")]
    [InlineData("{\"type\": \"execute_reply\", \"status\": \"weird\", \"execution_count\": 1}")]
    [InlineData("{\"type\": \"execute_reply\", \"status\": \"ok\", \"execution_count\": \"1\"}")]
    [InlineData("{\"type\": \"execute_reply\", \"status\": \"ok\", \"execution_count\": 1, \"files\": {}}")]
    [InlineData("{\"type\": \"execute_reply\", \"status\": \"ok\", \"execution_count\": 1, \"files\": [{\"path\": \"a\", \"size\": -1, \"change\": \"created\"}]}")]
    [InlineData("{\"type\": \"execute_reply\", \"status\": \"ok\", \"execution_count\": 1, \"files\": [{\"path\": \"a\", \"size\": 1, \"change\": \"renamed\"}]}")]
    [InlineData("{\"type\": \"display_data\", \"data\": \"not a bundle\"}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"image/png\": 12}}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"not a mime type\": \"x\"}}")]
    [InlineData("{\"type\": \"display_data\", \"data\": {\"text/\": \"x\"}}")]
    [InlineData("{\"type\": \"error\", \"evalue\": \"no name\"}")]
    [InlineData("{\"type\": \"error\", \"ename\": \"E\", \"traceback\": [1, 2]}")]
    [InlineData("{\"type\": \"error\", \"ename\": \"E\", \"traceback\": \"one string\"}")]
    [InlineData("{\"type\": \"reply\", \"ok\": \"yes\"}")]
    public void Parse_WrongShape_Throws(string json)
    {
        Assert.Throws<ProtocolViolationException>(() => Parse(json));
    }

    [Fact]
    public void Parse_OversizedParent_Throws()
    {
        var parent = new string('p', RunnerMessageParser.MaxIdLength + 1);

        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"a\", \"parent\": \"{parent}\"}}"));
    }

    [Fact]
    public void Parse_OversizedExceptionName_Throws()
    {
        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"error\", \"ename\": \"{new string('E', 1025)}\"}}"));
    }

    [Fact]
    public void Parse_TooManyTracebackLines_Throws()
    {
        var lines = string.Join(", ", Enumerable.Repeat("\"line\"", 1001));

        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"error\", \"ename\": \"E\", \"traceback\": [{lines}]}}"));
    }

    [Fact]
    public void Parse_TooManyMimeTypes_Throws()
    {
        var types = string.Join(", ", Enumerable.Range(0, 33).Select(i => $"\"text/x-{i}\": \"v\""));

        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"display_data\", \"data\": {{{types}}}}}"));
    }

    [Fact]
    public void Parse_OverlongMimeType_Throws()
    {
        Assert.Throws<ProtocolViolationException>(() => Parse($"{{\"type\": \"display_data\", \"data\": {{\"text/{new string('x', 130)}\": \"v\"}}}}"));
    }

    [Theory]
    [InlineData("{\"type\": \"comm_open\", \"comm_id\": 1}")]
    [InlineData("{\"type\": \"something_newer\"}")]
    public void Parse_UnknownType_ReturnsNull(string json)
    {
        Assert.Null(Parse(json));
    }

    [Fact]
    public void Parse_Stream_ReturnsTypedMessageWithParent()
    {
        var message = Parse("{\"type\": \"stream\", \"parent\": \"exe_1\", \"name\": \"stderr\", \"text\": \"oops\\n\", \"extra\": [1]}");

        var stream = Assert.IsType<StreamMessage>(message);
        Assert.Equal("exe_1", stream.Parent);
        Assert.Equal("stderr", stream.Name);
        Assert.Equal("oops\n", stream.Text);
    }

    [Fact]
    public void Parse_ExecuteReply_ReturnsFileChanges()
    {
        var message = Parse("{\"type\": \"execute_reply\", \"parent\": \"exe_2\", \"status\": \"error\", \"execution_count\": 3, \"files\": [{\"path\": \"out.csv\", \"size\": 12, \"change\": \"created\"}, {\"path\": \"old\", \"size\": 0, \"change\": \"deleted\"}]}");

        var reply = Assert.IsType<ExecuteReplyMessage>(message);
        Assert.Equal("error", reply.Status);
        Assert.Equal(3, reply.ExecutionCount);
        Assert.Equal([new("out.csv", 12, "created"), new("old", 0, "deleted")], reply.Files);
    }

    [Fact]
    public void Parse_DisplayData_KeepsJsonValuesOnlyForJsonTypes()
    {
        var message = Parse("{\"type\": \"display_data\", \"data\": {\"text/plain\": \"<Figure>\", \"application/vnd.vegalite.v5+json\": {\"mark\": \"bar\"}}, \"metadata\": {\"image/png\": {\"width\": 640}}}");

        var display = Assert.IsType<DisplayDataMessage>(message);
        Assert.Equal("<Figure>", display.Data["text/plain"].GetString());
        Assert.Equal("bar", display.Data["application/vnd.vegalite.v5+json"].GetProperty("mark").GetString());
        Assert.Equal(640, display.Metadata!.Value.GetProperty("image/png").GetProperty("width").GetInt32());
    }

    [Fact]
    public void Parse_Ready_ReadsVersionsAndPackages()
    {
        var message = Parse("{\"type\": \"ready\", \"protocol\": 1, \"python\": \"3.11.2\", \"startup_ms\": 812.5, \"packages\": {\"numpy\": \"1.24.2\"}}");

        var ready = Assert.IsType<ReadyMessage>(message);
        Assert.Equal(1, ready.Protocol);
        Assert.Equal("3.11.2", ready.Python);
        Assert.Equal(812.5, ready.StartupMs);
        Assert.Equal("1.24.2", ready.Packages["numpy"]);
    }

    [Fact]
    public void Parse_FailedReply_KeepsCodeAndBody()
    {
        var message = Parse("{\"type\": \"reply\", \"parent\": \"f1\", \"ok\": false, \"code\": \"file_not_found\", \"message\": \"no such file: a\"}");

        var reply = Assert.IsType<ReplyMessage>(message);
        Assert.False(reply.Ok);
        Assert.Equal("file_not_found", reply.Code);
        Assert.Equal("f1", reply.Body.GetProperty("parent").GetString());
    }
}
