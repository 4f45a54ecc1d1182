using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Vivarium.Sandbox.Protocol;

/// <summary>How the channel to a runner ended.</summary>
/// <param name="IsViolation">True when the runner broke the protocol (the sandbox is then killed).</param>
/// <param name="Detail">What happened, in a sentence.</param>
public sealed record RunnerChannelClosed(bool IsViolation, string Detail);

/// <summary>The runner's channel closed while a request was waiting for it.</summary>
public sealed class RunnerLostException(RunnerChannelClosed closed) : Exception(closed.Detail)
{
    /// <summary>How the channel ended.</summary>
    public RunnerChannelClosed Closed { get; } = closed;
}

/// <summary>
/// The host's side of the wire protocol. It knows nothing of processes or namespaces: any pair
/// of streams to a runner will do, so a backend on another host only has to supply a stream.
/// One reader loop routes each message to the request it answers; when the channel ends,
/// every waiting request fails at once instead of hanging.
/// </summary>
public sealed partial class RunnerClient : IAsyncDisposable
{
    private readonly FrameReader _reader;
    private readonly int _maxDisplayBytes;
    private readonly Stream _toRunner;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<ReplyMessage>> _pendingReplies = new();
    private readonly TaskCompletionSource<RunnerChannelClosed> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private ActiveExecution? _execution;
    private Task? _readLoop;
    private long _requestCounter;

    /// <summary>Wraps the two streams; call <see cref="HandshakeAsync"/> next.</summary>
    /// <param name="fromRunner">Frames from the runner.</param>
    /// <param name="toRunner">Frames to the runner.</param>
    /// <param name="maxFrameBytes">Largest frame accepted from the runner.</param>
    /// <param name="logger">Where protocol trouble is logged.</param>
    /// <param name="maxDisplayBytes">Largest display_data or execute_result frame passed on as it is; a bigger one is replaced by a note.</param>
    public RunnerClient(Stream fromRunner, Stream toRunner, int maxFrameBytes, ILogger logger, int maxDisplayBytes = int.MaxValue)
    {
        _reader = new FrameReader(fromRunner, maxFrameBytes);
        _maxDisplayBytes = maxDisplayBytes;
        _toRunner = toRunner;
        _logger = logger;
    }

    /// <summary>Completes when the channel has ended, with how it ended.</summary>
    public Task<RunnerChannelClosed> Completion => _closed.Task;

    /// <summary>Waits for the runner's <c>ready</c>, then starts routing messages.</summary>
    /// <exception cref="SandboxStartException">The runner failed, spoke out of turn or went away.</exception>
    public async Task<ReadyMessage> HandshakeAsync(CancellationToken cancellationToken)
    {
        RunnerMessage? first;
        try
        {
            var frame = await _reader.ReadFrameAsync(cancellationToken)
                ?? throw new SandboxStartException("the runner exited before it was ready");
            first = RunnerMessageParser.Parse(frame);
        }
        catch (ProtocolViolationException e)
        {
            throw new SandboxStartException($"the runner broke the protocol while starting: {e.Message}");
        }
        catch (IOException e)
        {
            throw new SandboxStartException("the runner's channel failed while starting", e);
        }
        switch (first)
        {
            case ReadyMessage ready:
                _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
                return ready;
            case FatalMessage fatal:
                throw new SandboxStartException($"the runner failed to start: {LastLine(fatal.Message)}");
            default:
                throw new SandboxStartException("the runner's first message was not 'ready'");
        }
    }

    /// <summary>
    /// Runs code and yields the runner's messages for it, ending with <see cref="ExecuteReplyMessage"/>.
    /// One execution at a time; the engine serialises them.
    /// </summary>
    /// <exception cref="RunnerLostException">The channel ended before the reply.</exception>
    public async IAsyncEnumerable<RunnerMessage> ExecuteAsync(string executionId, string code,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var execution = new ActiveExecution(executionId);
        if (Interlocked.CompareExchange(ref _execution, execution, null) is not null)
        {
            throw new InvalidOperationException("an execution is already running on this runner");
        }
        try
        {
            if (Completion.IsCompleted)
            {
                throw new RunnerLostException(Completion.Result);
            }
            await SendAsync(writer =>
            {
                writer.WriteString("type", "execute");
                writer.WriteString("id", executionId);
                writer.WriteString("code", code);
            }, cancellationToken);
            await foreach (var message in execution.Messages.Reader.ReadAllAsync(cancellationToken))
            {
                yield return message;
            }
        }
        finally
        {
            Interlocked.CompareExchange(ref _execution, null, execution);
        }
    }

    /// <summary>Asks the runner to raise KeyboardInterrupt in the running cell, if any.</summary>
    public Task InterruptAsync(CancellationToken cancellationToken) =>
        SendAsync(writer => writer.WriteString("type", "interrupt"), cancellationToken);

    /// <summary>
    /// Asks the runner to raise KeyboardInterrupt in one execution. Unlike the untargeted form,
    /// this also works when it overtakes the execute request: the runner remembers it and the
    /// cell is interrupted as it starts, so the state is kept.
    /// </summary>
    public Task InterruptAsync(string executionId, CancellationToken cancellationToken) =>
        SendAsync(writer =>
        {
            writer.WriteString("type", "interrupt");
            writer.WriteString("execution", executionId);
        }, cancellationToken);

    /// <summary>
    /// Sends a request answered by one <c>reply</c> (read_file, write_file, list_files,
    /// delete_file, set_env) and waits for it. The runner serves these on its control thread,
    /// so they are answered even while a cell runs.
    /// </summary>
    /// <param name="type">The request type.</param>
    /// <param name="writeFields">Writes the request's own fields.</param>
    /// <param name="cancellationToken">Stops waiting (the runner may still do the work).</param>
    /// <exception cref="RunnerLostException">The channel ended before the reply.</exception>
    public async Task<ReplyMessage> RequestAsync(string type, Action<Utf8JsonWriter>? writeFields, CancellationToken cancellationToken)
    {
        var id = "f" + Interlocked.Increment(ref _requestCounter).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var reply = new TaskCompletionSource<ReplyMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingReplies[id] = reply;
        try
        {
            if (Completion.IsCompleted)
            {
                throw new RunnerLostException(Completion.Result);
            }
            await SendAsync(writer =>
            {
                writer.WriteString("type", type);
                writer.WriteString("id", id);
                writeFields?.Invoke(writer);
            }, cancellationToken);
            return await reply.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            _pendingReplies.TryRemove(id, out _);
        }
    }

    /// <summary>Asks the runner to exit; does not wait for it.</summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(writer => writer.WriteString("type", "shutdown"), cancellationToken);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or RunnerLostException)
        {
            // Already gone: that is what we wanted.
        }
    }

    private async Task SendAsync(Action<Utf8JsonWriter> writeFields, CancellationToken cancellationToken)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeFields(writer);
            writer.WriteEndObject();
        }
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await FrameWriter.WriteFrameAsync(_toRunner, buffer.WrittenMemory, cancellationToken);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new RunnerLostException(Completion.IsCompleted ? Completion.Result : new RunnerChannelClosed(false, "the runner's channel is closed"));
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        RunnerChannelClosed closed;
        try
        {
            while (true)
            {
                var frame = await _reader.ReadFrameAsync(_stop.Token);
                if (frame is null)
                {
                    closed = new RunnerChannelClosed(false, "the runner exited");
                    break;
                }
                var message = CapDisplay(RunnerMessageParser.Parse(frame), frame.Length);
                if (message is FatalMessage fatal)
                {
                    closed = new RunnerChannelClosed(false, $"the runner failed: {LastLine(fatal.Message)}");
                    break;
                }
                Route(message);
            }
        }
        catch (ProtocolViolationException e)
        {
            closed = new RunnerChannelClosed(true, $"the runner broke the protocol: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            closed = new RunnerChannelClosed(false, "the channel was closed by the host");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            closed = new RunnerChannelClosed(false, "the runner's channel failed");
        }
        catch (Exception e)
        {
            // Whatever went wrong, the channel must end: a read loop that died silently would
            // leave the running execution and every file request waiting forever.
            closed = new RunnerChannelClosed(true, $"the runner's messages could not be handled: {e.Message}");
        }
        Close(closed);
    }

    /// <summary>
    /// The runner replaces a rich object over the display limit with a note, but it shares its
    /// interpreter with the user's code, which can write frames on the channel itself. So the
    /// host applies the same limit again: an oversized object never reaches the engine.
    /// </summary>
    private RunnerMessage? CapDisplay(RunnerMessage? message, int frameBytes)
    {
        if (frameBytes <= _maxDisplayBytes)
        {
            return message;
        }
        return message switch
        {
            DisplayDataMessage display => display with { Data = OversizedNote(frameBytes), Metadata = null },
            ExecuteResultMessage result => result with { Data = OversizedNote(frameBytes) },
            _ => message,
        };
    }

    private Dictionary<string, JsonElement> OversizedNote(int frameBytes)
    {
        var note = $"[output of {frameBytes} bytes not shown: over the limit of {_maxDisplayBytes} bytes for one display object]";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStringValue(note);
        }
        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return new Dictionary<string, JsonElement>(StringComparer.Ordinal) { ["text/plain"] = document.RootElement.Clone() };
    }

    private void Route(RunnerMessage? message)
    {
        switch (message)
        {
            case null:
                return; // an unknown type from a newer runner
            case ReplyMessage reply:
                if (reply.Parent is { } id && _pendingReplies.TryGetValue(id, out var pending))
                {
                    pending.TrySetResult(reply);
                }
                return;
            case ProtocolErrorMessage error:
                Log.RunnerProtocolError(_logger, error.Message);
                return;
        }
        var execution = Volatile.Read(ref _execution);
        if (execution is null || message.Parent != execution.Id)
        {
            return; // output of a background thread between cells, or of a finished cell
        }
        execution.Messages.Writer.TryWrite(message);
        if (message is ExecuteReplyMessage)
        {
            execution.Messages.Writer.TryComplete();
        }
    }

    private void Close(RunnerChannelClosed closed)
    {
        if (!_closed.TrySetResult(closed))
        {
            return;
        }
        var lost = new RunnerLostException(closed);
        Volatile.Read(ref _execution)?.Messages.Writer.TryComplete(lost);
        foreach (var pending in _pendingReplies.Values)
        {
            pending.TrySetException(lost);
        }
    }

    private static string LastLine(string text)
    {
        var lines = text.TrimEnd().Split('\n');
        return lines.Length == 0 ? text : lines[^1];
    }

    /// <summary>Stops the reader loop and fails anything still waiting.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        Close(new RunnerChannelClosed(false, "the sandbox was shut down"));
        _stop.Dispose();
        _writeLock.Dispose();
    }

    private sealed class ActiveExecution(string id)
    {
        public string Id { get; } = id;
        // The reader (the engine folding messages into its collector, a few microseconds each)
        // runs on the read loop's thread as each message is routed, instead of being handed to
        // another pool thread per frame.
        public Channel<RunnerMessage> Messages { get; } = Channel.CreateUnbounded<RunnerMessage>(new() { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "The runner rejected a request: {Detail}")]
        public static partial void RunnerProtocolError(ILogger logger, string detail);
    }
}
