using System.Collections.Concurrent;
using System.Diagnostics;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Starts processes from one long-lived thread.
/// </summary>
/// <remarks>
/// bubblewrap's <c>--die-with-parent</c> uses PR_SET_PDEATHSIG, which fires when the
/// <em>thread</em> that forked the process exits, not the process. .NET forks on the calling
/// thread, and thread-pool threads come and go: a sandbox started from one would be killed at
/// a random later moment. Forking from a thread that lives as long as the server avoids that,
/// while keeping the guarantee that sandboxes die when the server does.
/// </remarks>
internal sealed class ProcessLauncher : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Result)> _queue = new();
    private readonly Thread _thread;

    public ProcessLauncher()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "vivarium-sandbox-launcher" };
        _thread.Start();
    }

    public Task<Process> StartAsync(ProcessStartInfo start)
    {
        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add((start, result));
        return result.Task;
    }

    private void Run()
    {
        foreach (var (start, result) in _queue.GetConsumingEnumerable())
        {
            try
            {
                result.SetResult(Process.Start(start) ?? throw new InvalidOperationException("the process did not start"));
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        }
    }

    // Ends the thread; any sandbox still alive dies with it, which is what shutdown wants.
    public void Dispose() => _queue.CompleteAdding();
}
