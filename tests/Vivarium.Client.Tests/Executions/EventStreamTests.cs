using System.Net;
using System.Text;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests.Executions;

public class EventStreamTests
{
    private static readonly string Done = $"event: done\ndata: {Samples.ExecutionLine()}\n\n";

    private static (VivariumClient Client, FakeHttpHandler Handler) Serve(Stream body)
    {
        var handler = new FakeHttpHandler(Responses.EventStream(body));
        return (TestClient.Create(handler), handler);
    }

    private static async Task<List<ExecutionEvent>> ReadAll(Stream body)
    {
        var (client, _) = Serve(body);
        var events = new List<ExecutionEvent>();
        await foreach (var e in client.StreamExecuteAsync("ses_1", "print(1)"))
        {
            events.Add(e);
        }
        return events;
    }

    private static ChunkedStream Body(string text, int chunkSize = int.MaxValue) =>
        ChunkedStream.Split(Encoding.UTF8.GetBytes(text), Math.Min(chunkSize, Math.Max(1, Encoding.UTF8.GetByteCount(text))));

    [Fact]
    public async Task StreamExecute_AllEventKinds_YieldsThemInOrderEndingWithDone()
    {
        var events = await ReadAll(Body(
            "event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"hello\\n\"}\n\n" +
            $"event: display_data\ndata: {{\"type\":\"display_data\",\"data\":{{\"image/png\":\"{Samples.PngBase64}\"}},\"metadata\":{{}}}}\n\n" +
            "event: execute_result\ndata: {\"type\":\"execute_result\",\"execution_count\":3,\"data\":{\"text/plain\":\"2\"}}\n\n" +
            "event: error\ndata: {\"type\":\"error\",\"name\":\"KeyError\",\"value\":\"'date'\",\"traceback\":\"tb\"}\n\n" +
            "event: clear_output\ndata: {\"type\":\"clear_output\",\"wait\":true}\n\n" +
            Done));

        Assert.Collection(events,
            e => Assert.Equal(new StreamOutput("stdout", "hello\n"), Assert.IsType<OutputEvent>(e).Output),
            e => Assert.Equal(Samples.Png, MimeBundle.GetBase64(Assert.IsType<DisplayDataOutput>(Assert.IsType<OutputEvent>(e).Output).Data, MimeBundle.ImagePng)),
            e => Assert.Equal(3, Assert.IsType<ExecuteResultOutput>(Assert.IsType<OutputEvent>(e).Output).ExecutionCount),
            e => Assert.Equal(new ErrorOutput("KeyError", "'date'", "tb"), Assert.IsType<OutputEvent>(e).Output),
            e => Assert.True(Assert.IsType<ClearOutputEvent>(e).Wait),
            e => Assert.Equal("exe_1", Assert.IsType<DoneEvent>(e).Execution.Id));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public async Task StreamExecute_ChunksSplitLinesAndUtf8Characters_ReadsTheSameEvents(int chunkSize)
    {
        // é is 2 bytes, 世 3, 🎉 4: small chunks cut through each of them and through every line.
        const string text = "héllo 世界 🎉\n";
        var events = await ReadAll(Body(
            $"event: stream\ndata: {{\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"{text.Replace("\n", "\\n")}\"}}\n\n" + Done,
            chunkSize));

        Assert.Equal(new StreamOutput("stdout", text), Assert.IsType<OutputEvent>(events[0]).Output);
        Assert.IsType<DoneEvent>(events[1]);
    }

    [Fact]
    public async Task StreamExecute_MultiLineData_JoinsTheLinesWithNewlines()
    {
        // JSON allows a newline between tokens, so a server may split one object over data: lines.
        var events = await ReadAll(Body(
            "event: stream\ndata: {\"type\":\"stream\",\ndata: \"name\":\"stderr\",\ndata:\"text\":\"x\"}\n\n" +
            "event: mystery\ndata: line one\ndata: line two\n\n" +
            Done));

        Assert.Equal(new StreamOutput("stderr", "x"), Assert.IsType<OutputEvent>(events[0]).Output);
        Assert.Equal(new UnknownEvent("mystery", "line one\nline two"), events[1]);
    }

    [Fact]
    public async Task StreamExecute_CommentLines_AreIgnored()
    {
        var events = await ReadAll(Body(
            ": keep-alive\n\n" +
            "event: stream\n: a comment inside an event\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n" +
            ":\n\n" +
            Done));

        Assert.Equal(2, events.Count);
        Assert.Equal(new StreamOutput("stdout", "a"), Assert.IsType<OutputEvent>(events[0]).Output);
    }

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\r")]
    [InlineData("\n")]
    public async Task StreamExecute_AnyLineEnding_ReadsTheEvents(string newline)
    {
        var body = ("event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n" + Done).Replace("\n", newline);

        // Chunks of 1 byte split every CRLF in two: CR must not end a line twice.
        var events = await ReadAll(Body(body, chunkSize: 1));

        Assert.Equal(2, events.Count);
        Assert.Equal(new StreamOutput("stdout", "a"), Assert.IsType<OutputEvent>(events[0]).Output);
        Assert.Equal(ExecutionStatus.Ok, Assert.IsType<DoneEvent>(events[1]).Execution.Status);
    }

    [Fact]
    public async Task StreamExecute_OutputWithoutType_TakesItFromTheEventName()
    {
        var events = await ReadAll(Body("event: stream\ndata: {\"name\":\"stdout\",\"text\":\"a\"}\n\n" + Done));

        Assert.Equal(new StreamOutput("stdout", "a"), Assert.IsType<OutputEvent>(events[0]).Output);
    }

    [Theory]
    [InlineData("event: clear_output\ndata: {\"type\":\"clear_output\"}\n\n")]
    [InlineData("event: clear_output\ndata\n\n")]
    [InlineData("event: clear_output\ndata: not json\n\n")]
    public async Task StreamExecute_ClearOutputWithoutWait_IsAPlainClear(string clear)
    {
        var events = await ReadAll(Body(clear + Done));

        Assert.Equal(new ClearOutputEvent(Wait: false), events[0]);
    }

    [Fact]
    public async Task StreamExecute_EventWithoutName_IsUnknownMessage()
    {
        var events = await ReadAll(Body("data: hi\n\n" + Done));

        Assert.Equal(new UnknownEvent("message", "hi"), events[0]);
    }

    [Fact]
    public async Task StreamExecute_EndsWithoutDone_ThrowsIOException()
    {
        var (client, _) = Serve(Body("event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n"));
        var seen = new List<ExecutionEvent>();

        await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var e in client.StreamExecuteAsync("ses_1", "x"))
            {
                seen.Add(e);
            }
        });
        Assert.Single(seen);
    }

    [Fact]
    public async Task StreamExecute_AfterDone_StopsReadingAndClosesTheConnection()
    {
        // Anything after done is never read: a connection left open would hang here instead.
        var body = ChunkedStream.Split(Encoding.UTF8.GetBytes(Done), 4096, hangAtEnd: true);

        var events = await ReadAll(body);

        Assert.IsType<DoneEvent>(Assert.Single(events));
        Assert.True(body.IsDisposed);
    }

    [Fact]
    public async Task StreamExecute_Cancelled_ThrowsAndClosesTheConnection()
    {
        var body = ChunkedStream.Split(
            Encoding.UTF8.GetBytes("event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n"), 4096, hangAtEnd: true);
        var (client, _) = Serve(body);
        using var cts = new CancellationTokenSource();
        var seen = new List<ExecutionEvent>();

        var reading = Task.Run(async () =>
        {
            await foreach (var e in client.StreamExecuteAsync("ses_1", "while True: pass", cancellationToken: cts.Token))
            {
                seen.Add(e);
            }
        });
        await body.Waiting;
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        Assert.Single(seen);
        Assert.True(body.IsDisposed);
    }

    [Fact]
    public async Task StreamExecute_WithCancellationOnTheEnumerable_IsHonoured()
    {
        var body = ChunkedStream.Split([], 1, hangAtEnd: true);
        var (client, _) = Serve(body);
        using var cts = new CancellationTokenSource();

        var reading = Task.Run(async () =>
        {
            await foreach (var _ in client.StreamExecuteAsync("ses_1", "x").WithCancellation(cts.Token))
            {
            }
        });
        await body.Waiting;
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        Assert.True(body.IsDisposed);
    }

    [Fact]
    public async Task StreamExecute_CallerStopsEarly_ClosesTheConnection()
    {
        var body = ChunkedStream.Split(
            Encoding.UTF8.GetBytes("event: stream\ndata: {\"type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\"}\n\n"), 4096, hangAtEnd: true);
        var (client, _) = Serve(body);

        await foreach (var _ in client.StreamExecuteAsync("ses_1", "x"))
        {
            break;
        }

        Assert.True(body.IsDisposed);
    }

    [Fact]
    public async Task StreamExecute_ProblemBeforeTheStream_ThrowsOnFirstMoveNext()
    {
        var handler = new FakeHttpHandler(Responses.Problem(HttpStatusCode.Conflict, "session_busy"));
        var client = TestClient.Create(handler);

        var events = client.StreamExecuteAsync("ses_1", "x");
        Assert.Empty(handler.Requests);

        var e = await Assert.ThrowsAsync<SessionBusyException>(async () =>
        {
            await foreach (var _ in events)
            {
            }
        });
        Assert.Equal(HttpStatusCode.Conflict, e.Status);
    }

    [Fact]
    public async Task StreamExecute_ServerAnswersJson_YieldsOneDoneEvent()
    {
        var handler = new FakeHttpHandler(Responses.Json(Samples.Execution()));
        var client = TestClient.Create(handler);

        var events = new List<ExecutionEvent>();
        await foreach (var e in client.StreamExecuteAsync("ses_1", "x"))
        {
            events.Add(e);
        }

        Assert.Equal("exe_1", Assert.IsType<DoneEvent>(Assert.Single(events)).Execution.Id);
    }

    [Fact]
    public async Task StreamExecute_Request_PostsCodeAskingForEventStream()
    {
        var (client, handler) = Serve(Body(Done));

        await foreach (var _ in client.StreamExecuteAsync("ses_1", "print(1)", TimeSpan.FromSeconds(5)))
        {
        }

        var request = handler.Single;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/sessions/ses_1/execute", request.PathAndQuery);
        Assert.Equal("text/event-stream", Assert.Single(request.Headers.Accept).MediaType);
        Assert.Equal("""{"code":"print(1)","timeout_seconds":5}""", request.BodyText);
        Assert.Equal($"Bearer {TestClient.ApiKey}", request.Headers.Authorization?.ToString());
    }

    [Fact]
    public void StreamExecute_BadArguments_ThrowAtTheCall()
    {
        var client = TestClient.Create(new FakeHttpHandler(Responses.NoContent()));

        Assert.Throws<ArgumentException>(() => client.StreamExecuteAsync("", "x"));
        Assert.Throws<ArgumentNullException>(() => client.StreamExecuteAsync("ses_1", null!));
    }

    [Fact]
    public async Task StreamExecute_EnumeratedTwice_SendsTwoRequests()
    {
        var handler = new FakeHttpHandler((_, _) => Responses.EventStream(Body(Done)));
        var client = TestClient.Create(handler);
        var events = client.StreamExecuteAsync("ses_1", "x");

        await foreach (var _ in events)
        {
        }
        await foreach (var _ in events)
        {
        }

        Assert.Equal(2, handler.Requests.Count);
    }
}
