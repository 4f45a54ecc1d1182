using System.Text.Json;
using Vivarium.Engine.Executions;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Engine.Output;

/// <summary>
/// Folds one execution's runner messages into an <see cref="Execution"/>, enforcing the caps:
/// stream text keeps head and tail, rich outputs are counted past their limit. It also says
/// which outputs may be streamed live, so a flood never reaches a slow client in full.
/// </summary>
internal sealed class OutputCollector(ExecutionOptions options)
{
    private readonly CappedText _stdout = new(options.StreamHeadChars, options.StreamTailChars);
    private readonly CappedText _stderr = new(options.StreamHeadChars, options.StreamTailChars);
    private readonly List<ExecutionOutput> _outputs = [];
    private const int MaxErrorValueChars = 16 * 1024;
    private const int MaxTracebackChars = 64 * 1024;
    private int _displays;
    private int _errors;
    private long _richBytes;

    public int DroppedDisplays { get; private set; }
    public IReadOnlyDictionary<string, JsonElement>? Result { get; private set; }
    public ExecutionError? Error { get; private set; }
    public string? UserTraceback { get; private set; }
    public ExecuteReplyMessage? Reply { get; private set; }

    /// <summary>Takes one message; returns the event to stream live, if any.</summary>
    public ExecutionEvent? Add(RunnerMessage message)
    {
        switch (message)
        {
            case StreamMessage stream:
            {
                var text = (stream.Name == "stdout" ? _stdout : _stderr).Append(stream.Text);
                if (text.Length == 0)
                {
                    return null;
                }
                // Consecutive chunks of one stream read as one output, as in Jupyter.
                if (_outputs.Count > 0 && _outputs[^1] is StreamOutput last && last.Name == stream.Name)
                {
                    _outputs[^1] = last with { Text = last.Text + text };
                }
                else
                {
                    _outputs.Add(new StreamOutput(stream.Name, text));
                }
                return new ExecutionOutputEvent(new StreamOutput(stream.Name, text));
            }
            case DisplayDataMessage display:
            {
                if (_displays >= options.MaxDisplayOutputs || !TryReserve(Size(display.Data)))
                {
                    DroppedDisplays++;
                    return null;
                }
                _displays++;
                var output = new DisplayDataOutput(display.Data, display.Metadata);
                _outputs.Add(output);
                return new ExecutionOutputEvent(output);
            }
            case ExecuteResultMessage result:
            {
                var data = result.Data;
                long size = Size(data);
                if (!TryReserve(size))
                {
                    data = Note($"[a result of {size:N0} bytes was not kept: over the limit of {options.MaxRichOutputBytes:N0} bytes of rich output per execution]");
                }
                Result = data;
                var output = new ExecuteResultOutput(result.ExecutionCount, data);
                _outputs.Add(output);
                return new ExecutionOutputEvent(output);
            }
            case ErrorMessage error:
            {
                // The last error is the one that ended the cell; more than a few are kept only counted.
                var value = CappedText.Shorten(error.Value, MaxErrorValueChars);
                var traceback = CappedText.Shorten(string.Join('\n', error.Traceback), MaxTracebackChars);
                Error = new ExecutionError(error.Name, value, traceback);
                UserTraceback = CappedText.Shorten(error.UserTraceback, MaxTracebackChars);
                if (_errors >= options.MaxErrorOutputs || !TryReserve((value.Length + traceback.Length) * 2L))
                {
                    DroppedDisplays++;
                    return null;
                }
                _errors++;
                var output = new ErrorOutput(Error.Name, Error.Value, Error.Traceback);
                _outputs.Add(output);
                return new ExecutionOutputEvent(output);
            }
            case ClearOutputMessage:
                _outputs.RemoveAll(o => o is StreamOutput or DisplayDataOutput);
                _displays = 0;
                return new ExecutionClearedEvent();
            case ExecuteReplyMessage reply:
                Reply = reply;
                return null;
            default:
                return null;
        }
    }

    /// <summary>Builds the execution. For a crash, <paramref name="crash"/> says what happened.</summary>
    public Execution Build(string id, string sessionId, ExecutionStatus status, double durationMs, ExecutionError? crash, TimeSpan timeout)
    {
        var outputs = new List<ExecutionOutput>(_outputs);
        AppendTail(outputs, "stdout", _stdout);
        AppendTail(outputs, "stderr", _stderr);
        var error = crash ?? Error;
        if (crash is not null)
        {
            outputs.Add(new ErrorOutput(crash.Name, crash.Value, crash.Traceback));
        }
        var execution = new Execution
        {
            Id = id,
            SessionId = sessionId,
            Status = status,
            ExecutionCount = Reply?.ExecutionCount,
            Stdout = _stdout.ToString(),
            Stderr = _stderr.ToString(),
            StdoutTruncated = _stdout.Truncated,
            StderrTruncated = _stderr.Truncated,
            Outputs = outputs,
            Result = Result,
            Error = error,
            Files = Reply?.Files ?? [],
            DurationMs = Math.Round(durationMs, 2),
            Summary = "",
        };
        var summary = SummaryRenderer.Render(execution, new SummaryFacts(UserTraceback, DroppedDisplays, timeout), options.SummaryBudgetChars);
        return execution with { Summary = summary };
    }

    private bool TryReserve(long bytes)
    {
        if (_richBytes + bytes > options.MaxRichOutputBytes)
        {
            return false;
        }
        _richBytes += bytes;
        return true;
    }

    /// <summary>The bundle's size as it arrived (UTF-8 JSON), without copying it.</summary>
    private static long Size(IReadOnlyDictionary<string, JsonElement> data)
    {
        long size = 0;
        foreach (var (type, value) in data)
        {
            size += type.Length + System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(value).Length;
        }
        return size;
    }

    private static Dictionary<string, JsonElement> Note(string text) =>
        new(StringComparer.Ordinal) { ["text/plain"] = JsonSerializer.SerializeToElement(text) };

    private static void AppendTail(List<ExecutionOutput> outputs, string name, CappedText text)
    {
        var tail = text.TailWithNote();
        if (tail.Length > 0)
        {
            outputs.Add(new StreamOutput(name, tail));
        }
    }
}
