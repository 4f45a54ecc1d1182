using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// How one sandbox ended, whichever mode started it: the first reason it was killed for, the
/// teardown of its cgroup, and the one <see cref="SandboxExit"/> decided from both once its
/// outermost process (bwrap, or the zygote's child) has exited.
/// </summary>
/// <remarks>
/// Two parties end a sandbox at the same time: the channel watcher (the runner's channel closed,
/// so it kills) and the exit monitor (the process is gone, so it decides). The OOM verdict is
/// whatever <see cref="SandboxCgroup.KillAllAndRemove"/> returns, which is the same for every
/// caller, so it does not matter which of the two removes the cgroup first.
/// </remarks>
internal sealed class SandboxExitRecorder(SandboxCgroup cgroup)
{
    private readonly TaskCompletionSource<SandboxExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private SandboxExitReason? _killReason;

    /// <summary>How long a runner whose channel closed may take to be seen exiting on its own.</summary>
    public static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(1);

    /// <summary>Completes once, with the reason decided by <see cref="ConcludeAsync"/>.</summary>
    public Task<SandboxExit> Exited => _exited.Task;

    /// <summary>Remembers why the sandbox is being killed; the first reason wins (a dispose after a timeout kill is still a timeout kill).</summary>
    public void RecordKill(SandboxExitReason reason)
    {
        lock (_gate)
        {
            _killReason ??= reason;
        }
    }

    /// <summary>Kills whatever is left in the cgroup (double forks leave a process tree) and removes it, off the caller's thread.</summary>
    public Task TearDownAsync() => Task.Run(cgroup.KillAllAndRemove, CancellationToken.None);

    /// <summary>
    /// Kills the sandbox for <paramref name="reason"/>: its outer process by
    /// <paramref name="killOuterProcess"/> (each mode has its own way), then everything left in
    /// the cgroup; then waits, bounded, for the end to be decided.
    /// </summary>
    public async ValueTask KillAsync(SandboxExitReason reason, Func<ValueTask> killOuterProcess)
    {
        RecordKill(reason);
        await killOuterProcess();
        await TearDownAsync();
        await ((Task)Exited).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Ends the sandbox once its runner's channel has closed. A runner that exited on its own
    /// (os._exit, a crash) closed the channel on its way out, but its status still has to come up
    /// through bwrap, or through pid 1, the outer process and the zygote: it gets
    /// <see cref="ExitGrace"/> for that, so the status reported is its own and not that of our
    /// SIGKILL. A runner that closed its channel but keeps running is killed after it.
    /// </summary>
    public async Task WatchChannelAsync(Task<RunnerChannelClosed> channelClosed, Func<SandboxExitReason, ValueTask> kill)
    {
        var closed = await channelClosed;
        if (!closed.IsViolation)
        {
            await ((Task)Exited).WaitAsync(ExitGrace, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        await kill(ReasonFor(closed));
    }

    /// <summary>
    /// Called once the sandbox's outermost process has exited with <paramref name="exitCode"/>
    /// (negative: killed by that signal): tears the cgroup down, decides why the sandbox ended
    /// and completes <see cref="Exited"/>.
    /// </summary>
    public async Task<SandboxExit> ConcludeAsync(int exitCode)
    {
        bool oomKilled = await Task.Run(cgroup.KillAllAndRemove, CancellationToken.None);
        SandboxExitReason reason;
        lock (_gate)
        {
            reason = Decide(oomKilled, _killReason);
        }
        var exit = new SandboxExit(reason, Describe(reason, exitCode));
        _exited.TrySetResult(exit);
        return exit;
    }

    /// <summary>The kill reason for a runner whose channel closed.</summary>
    public static SandboxExitReason ReasonFor(RunnerChannelClosed closed) =>
        closed.IsViolation ? SandboxExitReason.ProtocolViolation : SandboxExitReason.RunnerExited;

    /// <summary>OOM beats the watcher's "runner exited": it is the cause, the exit only the effect.</summary>
    internal static SandboxExitReason Decide(bool oomKilled, SandboxExitReason? killReason) =>
        oomKilled && killReason is null or SandboxExitReason.RunnerExited ? SandboxExitReason.OutOfMemory : killReason ?? SandboxExitReason.RunnerExited;

    /// <summary>The sentence a sandbox's end is reported with.</summary>
    internal static string Describe(SandboxExitReason reason, int exitCode) => reason switch
    {
        SandboxExitReason.OutOfMemory => "the sandbox ran out of memory and the kernel killed it",
        SandboxExitReason.KilledAfterTimeout => "the sandbox was killed because the code did not stop after an interrupt",
        SandboxExitReason.ProtocolViolation => "the sandbox was killed because its runner broke the protocol",
        SandboxExitReason.Disposed => "the sandbox was shut down",
        SandboxExitReason.Killed => "the sandbox was killed",
        _ => $"the interpreter exited (code {exitCode})",
    };
}
