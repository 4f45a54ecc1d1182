using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

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
internal sealed partial class ProcessLauncher : IDisposable
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
                MarkInheritedDescriptorsCloseOnExec();
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

    /// <summary>
    /// Sets FD_CLOEXEC on every descriptor above stderr. .NET opens its own with O_CLOEXEC and
    /// its fork closes nothing else, so a descriptor the server inherited without the flag (from
    /// a shell, a supervisor, a native library) would reach every sandbox, and the code in it
    /// could read or write whatever is on the other end. Checked before each start, because a
    /// native library may open one at any time.
    /// </summary>
    internal static void MarkInheritedDescriptorsCloseOnExec()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), System.Globalization.CultureInfo.InvariantCulture, out int fd) || fd <= 2)
            {
                continue;
            }
            int flags = Fcntl(fd, GetDescriptorFlags, 0);
            if (flags >= 0 && (flags & CloseOnExec) == 0)
            {
                Fcntl(fd, SetDescriptorFlags, flags | CloseOnExec);
            }
        }
    }

    private const int GetDescriptorFlags = 1; // F_GETFD
    private const int SetDescriptorFlags = 2; // F_SETFD
    private const int CloseOnExec = 1;        // FD_CLOEXEC

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);
}
