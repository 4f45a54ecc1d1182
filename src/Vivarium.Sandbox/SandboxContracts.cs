using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox;

/// <summary>
/// Starts sandboxes. A backend owns the isolation mechanism (bubblewrap today; a pod or a
/// WebAssembly runtime later); what runs inside is always the same runner, reached through
/// a <see cref="RunnerClient"/> over a byte stream.
/// </summary>
public interface ISandboxBackend
{
    /// <summary>A short name for logs, metrics and <c>doctor</c>.</summary>
    string Name { get; }

    /// <summary>The limits a sandbox gets by default, which are also the most a session may ask for.</summary>
    SandboxLimits DefaultLimits { get; }

    /// <summary>Prepares the backend once: runtime files, orphan clean-up. Idempotent.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Creates an empty workspace that sandboxes can be started on.</summary>
    Task<SandboxWorkspace> CreateWorkspaceAsync(CancellationToken cancellationToken);

    /// <summary>Removes a workspace and everything in it. No sandbox may still use it.</summary>
    Task DeleteWorkspaceAsync(SandboxWorkspace workspace, CancellationToken cancellationToken);

    /// <summary>Starts a sandbox on a workspace and waits until its runner is ready.</summary>
    /// <exception cref="SandboxStartException">The sandbox could not be started.</exception>
    Task<ISandbox> StartAsync(SandboxWorkspace workspace, SandboxLimits limits, CancellationToken cancellationToken);
}

/// <summary>One running sandbox with its runner.</summary>
public interface ISandbox : IAsyncDisposable
{
    /// <summary>Unguessable id, also used for the sandbox's cgroup.</summary>
    string Id { get; }

    /// <summary>The workspace the sandbox was started on.</summary>
    SandboxWorkspace Workspace { get; }

    /// <summary>The protocol client talking to the runner.</summary>
    RunnerClient Runner { get; }

    /// <summary>What the runner said when it was ready.</summary>
    ReadyMessage Info { get; }

    /// <summary>Completes when the sandbox is gone, with the reason.</summary>
    Task<SandboxExit> Exited { get; }

    /// <summary>Kills every process of the sandbox. Safe to call more than once; the first reason wins.</summary>
    ValueTask KillAsync(SandboxExitReason reason);

    /// <summary>Current resource use, where the backend can measure it.</summary>
    SandboxUsage ReadUsage();
}

/// <summary>A writable directory that sandboxes see as their working directory.</summary>
/// <param name="Id">Unguessable id of the workspace.</param>
/// <param name="HostPath">Where it lives on the host (never shown to clients).</param>
/// <param name="HostUid">The unprivileged host uid that sandboxes on this workspace run as.</param>
public sealed record SandboxWorkspace(string Id, string HostPath, int HostUid);

/// <summary>Resource limits for one sandbox. Null means the backend default.</summary>
public sealed record SandboxLimits
{
    /// <summary>Memory (RSS plus page cache the sandbox causes), in bytes.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>Processes and threads together.</summary>
    public int? MaxProcesses { get; init; }

    /// <summary>CPU share in cores (1.0 = one full core).</summary>
    public double? CpuCores { get; init; }
}

/// <summary>Why a sandbox ended. The first reason recorded wins.</summary>
public enum SandboxExitReason
{
    /// <summary>Ended on purpose (session ended, restart, shutdown).</summary>
    Disposed,
    /// <summary>Killed because the code did not stop within the interrupt grace period.</summary>
    KilledAfterTimeout,
    /// <summary>The memory limit was hit and the kernel killed the runner.</summary>
    OutOfMemory,
    /// <summary>The runner exited or closed its channel on its own.</summary>
    RunnerExited,
    /// <summary>The runner sent something that broke the protocol.</summary>
    ProtocolViolation,
    /// <summary>Killed from outside (an operator, a fault injection).</summary>
    Killed,
}

/// <summary>How a sandbox ended.</summary>
/// <param name="Reason">Why.</param>
/// <param name="Detail">A sentence for logs and for the user.</param>
public sealed record SandboxExit(SandboxExitReason Reason, string Detail);

/// <summary>Resource use; null where unknown.</summary>
/// <param name="MemoryBytes">Memory charged to the sandbox.</param>
/// <param name="Processes">Processes and threads alive.</param>
public sealed record SandboxUsage(long? MemoryBytes, int? Processes);

/// <summary>A sandbox could not be started; the message says why in plain words.</summary>
public sealed class SandboxStartException(string message, Exception? inner = null) : Exception(message, inner);
