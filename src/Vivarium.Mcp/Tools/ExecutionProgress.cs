using System.Diagnostics;
using System.Globalization;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Vivarium.Engine.Executions;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// Progress notifications while code runs, for a client that sent a progress token: the latest
/// output as the message when there is some, otherwise a heartbeat every interval. The
/// heartbeat matters as much as the output: clients reset their request timeout on progress,
/// so a long silent computation is not abandoned at the client's default timeout.
/// </summary>
internal sealed class ExecutionProgress : IAsyncDisposable
{
    /// <summary>Output floods (a print in a tight loop) are merged into one notification per this much time.</summary>
    private static readonly TimeSpan MinimumGap = TimeSpan.FromMilliseconds(100);
    private const int MessageChars = 500;

    private readonly McpServer _server;
    private readonly ProgressToken _token;
    private readonly TimeSpan _interval;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Task _loop;
    private string? _pending;
    private int _count;

    private ExecutionProgress(McpServer server, ProgressToken token, TimeSpan interval)
    {
        _server = server;
        _token = token;
        _interval = interval;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Starts reporting when the request carries a progress token; null otherwise.</summary>
    public static ExecutionProgress? Start(RequestContext<CallToolRequestParams> request, TimeSpan interval) =>
        request.Params?.ProgressToken is { } token ? new ExecutionProgress(request.Server, token, interval) : null;

    /// <summary>Notes an output; it is sent soon, merged with whatever else arrives meanwhile.</summary>
    public void Report(ExecutionOutput output)
    {
        var text = output switch
        {
            StreamOutput stream => stream.Text,
            DisplayDataOutput display => $"[displayed {display.Data.Keys.FirstOrDefault(k => k != "text/plain") ?? "text/plain"}]\n",
            ErrorOutput error => $"{error.Name}: {error.Value}\n",
            _ => null,
        };
        if (string.IsNullOrEmpty(text))
        {
            return;
        }
        lock (_lock)
        {
            var merged = (_pending ?? "") + text;
            _pending = merged.Length <= MessageChars ? merged : merged[^MessageChars..];
        }
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; the loop will pick this output up with the rest.
        }
    }

    private async Task LoopAsync()
    {
        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var hadOutput = await _signal.WaitAsync(_interval, stop);
                string message;
                lock (_lock)
                {
                    message = _pending ?? string.Create(CultureInfo.InvariantCulture,
                        $"running for {Stopwatch.GetElapsedTime(_started).TotalSeconds:0} s");
                    _pending = null;
                }
                // Never cancelled half-way: a notification cut off mid-write could corrupt the
                // stream that the result itself is sent on next. Stopping waits for it instead.
                await _server.NotifyProgressAsync(_token, new ProgressNotificationValue { Progress = ++_count, Message = message }, cancellationToken: CancellationToken.None);
                if (hadOutput)
                {
                    await Task.Delay(MinimumGap, stop);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The execution ended.
        }
        catch (Exception)
        {
            // Progress is a courtesy: whatever went wrong sending it (the client is gone, its
            // stream closed), the result still carries everything, so the call must not fail.
        }
    }

    /// <summary>Stops reporting; the result itself carries everything that was not sent yet.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
        _signal.Dispose();
    }
}
