using System.IO.Pipes;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Tests.Protocol;

/// <summary>The host's side of the protocol against a scripted runner on the other end of two pipes.</summary>
public sealed class RunnerClientTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly AnonymousPipeServerStream _toRunner = new(PipeDirection.Out);
    private readonly AnonymousPipeClientStream _runnerIn;
    private readonly AnonymousPipeServerStream _fromRunner = new(PipeDirection.In);
    private readonly AnonymousPipeClientStream _runnerOut;
    private readonly FrameReader _runnerReader;
    private readonly RunnerClient _client;

    public RunnerClientTests()
    {
        _runnerIn = new AnonymousPipeClientStream(PipeDirection.In, _toRunner.ClientSafePipeHandle);
        _runnerOut = new AnonymousPipeClientStream(PipeDirection.Out, _fromRunner.ClientSafePipeHandle);
        _runnerReader = new FrameReader(_runnerIn, 1 << 20);
        _client = new RunnerClient(_fromRunner, _toRunner, maxFrameBytes: 1 << 20, NullLogger.Instance);
    }

    private Task RunnerSendsAsync(string json) => RunnerSendsAsync(Encoding.UTF8.GetBytes(json));

    private async Task RunnerSendsAsync(byte[] payload) =>
        await FrameWriter.WriteFrameAsync(_runnerOut, payload, CancellationToken.None);

    private async Task<JsonElement> RunnerReceivesAsync()
    {
        var frame = await _runnerReader.ReadFrameAsync(CancellationToken.None).AsTask().WaitAsync(Bound);
        using var document = JsonDocument.Parse(frame!);
        return document.RootElement.Clone();
    }

    private async Task HandshakeAsync()
    {
        await RunnerSendsAsync("{\"type\": \"ready\", \"protocol\": 1, \"python\": \"3.11.2\"}");
        await _client.HandshakeAsync(CancellationToken.None).WaitAsync(Bound);
    }

    [Fact]
    public async Task HandshakeAsync_FirstMessageNotReady_Throws()
    {
        await RunnerSendsAsync("{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"hi\"}");

        await Assert.ThrowsAsync<SandboxStartException>(() => _client.HandshakeAsync(CancellationToken.None).WaitAsync(Bound));
    }

    [Fact]
    public async Task HandshakeAsync_Fatal_ThrowsWithTheRunnersLastLine()
    {
        await RunnerSendsAsync("{\"type\": \"fatal\", \"message\": \"Traceback...\\nModuleNotFoundError: No module named 'IPython'\\n\"}");

        var error = await Assert.ThrowsAsync<SandboxStartException>(() => _client.HandshakeAsync(CancellationToken.None).WaitAsync(Bound));

        Assert.Contains("No module named 'IPython'", error.Message);
    }

    [Fact]
    public async Task ExecuteAsync_YieldsOwnMessagesInOrder_DropsOthersAndUnknownTypes()
    {
        await HandshakeAsync();

        var messages = new List<RunnerMessage>();
        var consume = Task.Run(async () =>
        {
            await foreach (var message in _client.ExecuteAsync("exe_1", "print(1)", CancellationToken.None))
            {
                messages.Add(message);
            }
        });
        var request = await RunnerReceivesAsync();
        await RunnerSendsAsync("{\"type\": \"stream\", \"parent\": \"exe_0\", \"name\": \"stdout\", \"text\": \"late output of an earlier cell\"}");
        await RunnerSendsAsync("{\"type\": \"from_the_future\", \"parent\": \"exe_1\"}");
        await RunnerSendsAsync("{\"type\": \"stream\", \"parent\": \"exe_1\", \"name\": \"stdout\", \"text\": \"1\\n\"}");
        await RunnerSendsAsync("{\"type\": \"execute_reply\", \"parent\": \"exe_1\", \"status\": \"ok\", \"execution_count\": 1}");
        await consume.WaitAsync(Bound);

        Assert.Equal("execute", request.GetProperty("type").GetString());
        Assert.Equal("exe_1", request.GetProperty("id").GetString());
        Assert.Equal("print(1)", request.GetProperty("code").GetString());
        Assert.Collection(messages,
            m => Assert.Equal("1\n", Assert.IsType<StreamMessage>(m).Text),
            m => Assert.Equal("ok", Assert.IsType<ExecuteReplyMessage>(m).Status));
    }

    [Fact]
    public async Task InterruptAsync_WithExecutionId_NamesTheExecution()
    {
        await HandshakeAsync();

        await _client.InterruptAsync("exe_7", CancellationToken.None);
        var interrupt = await RunnerReceivesAsync();

        Assert.Equal("interrupt", interrupt.GetProperty("type").GetString());
        Assert.Equal("exe_7", interrupt.GetProperty("execution").GetString());
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xff, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    [InlineData(new byte[] { (byte)'[', (byte)']' })]
    public async Task ExecuteAsync_RunnerBreaksTheProtocol_FailsInsteadOfHanging(byte[] frame)
    {
        await HandshakeAsync();
        var execute = Task.Run(async () =>
        {
            await foreach (var _ in _client.ExecuteAsync("exe_1", "x", CancellationToken.None))
            {
            }
        });
        await RunnerReceivesAsync();

        await RunnerSendsAsync(frame);

        var lost = await Assert.ThrowsAsync<RunnerLostException>(() => execute.WaitAsync(Bound));
        Assert.True(lost.Closed.IsViolation);
        Assert.True((await _client.Completion.WaitAsync(Bound)).IsViolation);
    }

    [Fact]
    public async Task RequestAsync_RunnerExits_FailsInsteadOfHanging()
    {
        await HandshakeAsync();
        var request = _client.RequestAsync("read_file", w => w.WriteString("path", "a.txt"), CancellationToken.None);
        var sent = await RunnerReceivesAsync();

        _runnerOut.Dispose();

        await Assert.ThrowsAsync<RunnerLostException>(() => request.WaitAsync(Bound));
        Assert.Equal("read_file", sent.GetProperty("type").GetString());
        Assert.False((await _client.Completion.WaitAsync(Bound)).IsViolation);
    }

    [Fact]
    public async Task RequestAsync_RepliesOutOfOrder_EachReachesItsRequest()
    {
        await HandshakeAsync();
        var first = _client.RequestAsync("list_files", null, CancellationToken.None);
        var second = _client.RequestAsync("list_files", null, CancellationToken.None);
        var firstId = (await RunnerReceivesAsync()).GetProperty("id").GetString();
        var secondId = (await RunnerReceivesAsync()).GetProperty("id").GetString();

        await RunnerSendsAsync($"{{\"type\": \"reply\", \"parent\": \"{secondId}\", \"ok\": true, \"n\": 2}}");
        await RunnerSendsAsync($"{{\"type\": \"reply\", \"parent\": \"{firstId}\", \"ok\": true, \"n\": 1}}");

        Assert.Equal(1, (await first.WaitAsync(Bound)).Body.GetProperty("n").GetInt32());
        Assert.Equal(2, (await second.WaitAsync(Bound)).Body.GetProperty("n").GetInt32());
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        _runnerOut.Dispose();
        _fromRunner.Dispose();
        _runnerIn.Dispose();
        _toRunner.Dispose();
    }
}
