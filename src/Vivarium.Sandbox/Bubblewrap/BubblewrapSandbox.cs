using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>A running bubblewrap sandbox: its process, its cgroup and its runner channel.</summary>
internal sealed partial class BubblewrapSandbox : ISandbox
{
    private const int DiagnosticTailChars = 4096;
    private readonly Process _process;
    private readonly SandboxCgroup _cgroup;
    private readonly ILogger _logger;
    private readonly SandboxExitRecorder _exit;
    private readonly StringBuilder _stderrTail = new();
    private ReadyMessage? _info;

    public BubblewrapSandbox(string id, SandboxWorkspace workspace, Process process, SandboxCgroup cgroup, int maxFrameBytes, int maxDisplayBytes, ILogger logger)
    {
        Id = id;
        Workspace = workspace;
        _process = process;
        _cgroup = cgroup;
        _exit = new SandboxExitRecorder(cgroup);
        _logger = logger;
        Runner = new RunnerClient(process.StandardOutput.BaseStream, process.StandardInput.BaseStream, maxFrameBytes, logger, maxDisplayBytes);
        _ = CollectStderrAsync();
        _ = MonitorAsync();
    }

    public string Id { get; }
    public SandboxWorkspace Workspace { get; }
    public RunnerClient Runner { get; }
    public ReadyMessage Info => _info ?? throw new InvalidOperationException("the sandbox is not ready yet");
    public Task<SandboxExit> Exited => _exit.Exited;

    /// <summary>What bubblewrap (or Python, before the runner took over stderr) last wrote.</summary>
    public string DiagnosticOutput
    {
        get
        {
            lock (_stderrTail)
            {
                return _stderrTail.ToString().Trim();
            }
        }
    }

    public async Task StartAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            _info = await Runner.HandshakeAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SandboxStartException($"the sandbox did not become ready within {timeout.TotalSeconds:0} s");
        }
        catch (SandboxStartException e)
        {
            // bubblewrap's own complaint is more useful than "the runner exited".
            await ((Task)Exited).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var detail = DiagnosticOutput;
            throw new SandboxStartException(detail.Length > 0 ? $"{e.Message}: {detail}" : e.Message, e);
        }
        _ = _exit.WatchChannelAsync(Runner.Completion, KillAsync);
    }

    // Processes that left bwrap's tree (double forks) are still in the cgroup.
    public ValueTask KillAsync(SandboxExitReason reason) => _exit.KillAsync(reason, () =>
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        return ValueTask.CompletedTask;
    });

    public SandboxUsage ReadUsage() => new(_cgroup.MemoryBytes, _cgroup.Processes);

    public async ValueTask DisposeAsync()
    {
        await KillAsync(SandboxExitReason.Disposed);
        await Runner.DisposeAsync();
        _process.Dispose();
    }

    private async Task MonitorAsync()
    {
        await _process.WaitForExitAsync(CancellationToken.None);
        var exit = await _exit.ConcludeAsync(_process.ExitCode);
        Log.SandboxExited(_logger, Id, exit.Reason, _process.ExitCode);
    }

    private async Task CollectStderrAsync()
    {
        var buffer = new char[4096];
        var reader = _process.StandardError;
        try
        {
            int read;
            while ((read = await reader.ReadAsync(buffer, CancellationToken.None)) > 0)
            {
                lock (_stderrTail)
                {
                    _stderrTail.Append(buffer, 0, read);
                    if (_stderrTail.Length > DiagnosticTailChars)
                    {
                        _stderrTail.Remove(0, _stderrTail.Length - DiagnosticTailChars);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Sandbox {SandboxId} exited ({Reason}, exit code {ExitCode})")]
        public static partial void SandboxExited(ILogger logger, string sandboxId, SandboxExitReason reason, int exitCode);
    }
}
