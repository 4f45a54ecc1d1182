using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Vivarium.Sandbox.Bubblewrap;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.ForkServer;

/// <summary>A sandbox the zygote forked: its runner channel (a Unix socket), its cgroup, and the exit the zygote reports.</summary>
internal sealed partial class ForkServerSandbox : ISandbox
{
    private readonly Socket _channel;
    private readonly NetworkStream _stream;
    private readonly ZygoteChild _child;
    private readonly Zygote _zygote;
    private readonly SandboxCgroup _cgroup;
    private readonly ILogger _logger;
    private readonly SandboxExitRecorder _exit;
    private ReadyMessage? _info;

    public ForkServerSandbox(string id, SandboxWorkspace workspace, Socket channel, ZygoteChild child, Zygote zygote, SandboxCgroup cgroup, int maxFrameBytes, int maxDisplayBytes, ILogger logger)
    {
        Id = id;
        Workspace = workspace;
        _channel = channel;
        _stream = new NetworkStream(channel, ownsSocket: true);
        _child = child;
        _zygote = zygote;
        _cgroup = cgroup;
        _exit = new SandboxExitRecorder(cgroup);
        _logger = logger;
        Runner = new RunnerClient(_stream, _stream, maxFrameBytes, logger, maxDisplayBytes);
        _ = MonitorAsync();
    }

    public string Id { get; }
    public SandboxWorkspace Workspace { get; }
    public RunnerClient Runner { get; }
    public ReadyMessage Info => _info ?? throw new InvalidOperationException("the sandbox is not ready yet");
    public Task<SandboxExit> Exited => _exit.Exited;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _info = await Runner.HandshakeAsync(cancellationToken);
        }
        catch (SandboxStartException e)
        {
            // The zygote's stderr may say more than "the runner exited".
            await ((Task)_child.Exited.Task).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var detail = _zygote.StderrTail(Id);
            throw new SandboxStartException(detail.Length > 0 ? $"{e.Message}: {detail}" : e.Message, e);
        }
        _ = _exit.WatchChannelAsync(Runner.Completion, KillAsync);
    }

    // The cgroup holds every process of the sandbox, its outer one included.
    public ValueTask KillAsync(SandboxExitReason reason) => _exit.KillAsync(reason, () => new ValueTask(_zygote.KillAsync(Id)));

    public SandboxUsage ReadUsage() => new(_cgroup.MemoryBytes, _cgroup.Processes);

    public async ValueTask DisposeAsync()
    {
        await KillAsync(SandboxExitReason.Disposed);
        await Runner.DisposeAsync();
        await _stream.DisposeAsync();
        _channel.Dispose();
    }

    private async Task MonitorAsync()
    {
        int exitCode = await _child.Exited.Task;
        var exit = await _exit.ConcludeAsync(exitCode);
        Log.SandboxExited(_logger, Id, exit.Reason, exitCode);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1303, Level = LogLevel.Debug, Message = "Sandbox {SandboxId} (forked) exited ({Reason}, exit code {ExitCode})")]
        public static partial void SandboxExited(ILogger logger, string sandboxId, SandboxExitReason reason, int exitCode);
    }
}
