using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.ForkServer;

/// <summary>What the zygote said about one sandbox's outer process.</summary>
internal sealed class ZygoteChild
{
    public TaskCompletionSource<int> Spawned { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The exit code (negative: killed by that signal).</summary>
    public TaskCompletionSource<int> Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// One running fork server (runner/vivarium_zygote.py): its process and its control channel
/// (frames on stdin and stdout). Its stderr, which the sandboxes' set-up writes failures to,
/// is kept as a short tail for start errors.
/// </summary>
internal sealed class Zygote : IAsyncDisposable
{
    private const int StderrTailLines = 64;
    private readonly Process _process;
    private readonly Stream _control;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, ZygoteChild> _children = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _stderrTail = new();
    private readonly Task _readLoop;
    private readonly Task _stderrLoop;

    private Zygote(Process process)
    {
        _process = process;
        _control = process.StandardInput.BaseStream;
        _stderrLoop = CollectStderrAsync();
        _readLoop = ReadLoopAsync();
        Exited = WaitForExitAsync();
    }

    /// <summary>Completes when the zygote is gone; every sandbox it forked dies with it.</summary>
    public Task Exited { get; }

    public int ProcessId => _process.Id;

    /// <summary>Starts the zygote and waits until it has imported everything.</summary>
    public static async Task<Zygote> StartAsync(Func<ProcessStartInfo, Task<Process>> launch, ProcessStartInfo start, JsonObject config, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var zygote = new Zygote(await launch(start));
        try
        {
            await zygote.SendAsync(config, cancellationToken);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            await zygote._ready.Task.WaitAsync(deadline.Token);
            return zygote;
        }
        catch (Exception e)
        {
            await zygote.DisposeAsync();
            throw new SandboxStartException($"the fork server did not start: {(e is OperationCanceledException ? "timed out" : e.Message)} {zygote.StderrTail(null)}".Trim(), e);
        }
    }

    /// <summary>Asks for a sandbox; the answer (and later the exit) arrives on the returned child.</summary>
    public async Task<ZygoteChild> SpawnAsync(string sandboxId, JsonObject request, CancellationToken cancellationToken)
    {
        var child = new ZygoteChild();
        _children[sandboxId] = child;
        if (Exited.IsCompleted)
        {
            Forget(sandboxId, child);
            throw new SandboxStartException("the fork server is not running");
        }
        request["type"] = "spawn";
        request["id"] = sandboxId;
        try
        {
            await SendAsync(request, cancellationToken);
        }
        catch (IOException e)
        {
            Forget(sandboxId, child);
            throw new SandboxStartException($"the fork server is not running: {e.Message}", e);
        }
        return child;
    }

    /// <summary>SIGKILLs a sandbox's outer process, if the zygote has not reaped it yet (so never a reused pid).</summary>
    public async Task KillAsync(string sandboxId)
    {
        try
        {
            await SendAsync(new JsonObject { ["type"] = "kill", ["id"] = sandboxId }, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The zygote is gone, and its sandboxes with it.
        }
    }

    /// <summary>Lines of the zygote's stderr that name <paramref name="sandboxId"/> (or all, for null).</summary>
    public string StderrTail(string? sandboxId)
    {
        lock (_stderrTail)
        {
            return string.Join("\n", _stderrTail.Where(l => sandboxId is null || l.Contains(sandboxId, StringComparison.Ordinal)));
        }
    }

    private void Forget(string sandboxId, ZygoteChild child) =>
        ((ICollection<KeyValuePair<string, ZygoteChild>>)_children).Remove(new(sandboxId, child));

    private async Task SendAsync(JsonObject message, CancellationToken cancellationToken)
    {
        var payload = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await FrameWriter.WriteFrameAsync(_control, payload, cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = new FrameReader(_process.StandardOutput.BaseStream, 1024 * 1024);
        try
        {
            while (await reader.ReadFrameAsync(CancellationToken.None) is { } frame)
            {
                using var doc = JsonDocument.Parse(frame);
                var root = doc.RootElement;
                var type = root.GetProperty("type").GetString();
                if (type == "ready")
                {
                    _ready.TrySetResult();
                    continue;
                }
                var id = root.GetProperty("id").GetString() ?? "";
                if (!_children.TryGetValue(id, out var child))
                {
                    continue;
                }
                switch (type)
                {
                    case "spawned":
                        child.Spawned.TrySetResult(root.GetProperty("pid").GetInt32());
                        break;
                    case "spawn_failed":
                        Forget(id, child);
                        child.Spawned.TrySetException(new SandboxStartException($"the fork server could not fork: {root.GetProperty("message").GetString()}"));
                        child.Exited.TrySetResult(-1);
                        break;
                    case "exited":
                        Forget(id, child);
                        child.Exited.TrySetResult(root.GetProperty("status").GetInt32());
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or JsonException or ProtocolViolationException or KeyNotFoundException or InvalidOperationException)
        {
            // A broken channel is the zygote's end: WaitForExitAsync reports it.
        }
    }

    private async Task WaitForExitAsync()
    {
        await _process.WaitForExitAsync(CancellationToken.None);
        await _readLoop;
        await _stderrLoop;
        _ready.TrySetException(new SandboxStartException($"the fork server exited (code {_process.ExitCode})"));
        // Its sandboxes died with it (their outer processes have it as parent-death signal source).
        foreach (var (id, child) in _children)
        {
            child.Spawned.TrySetException(new SandboxStartException("the fork server died"));
            child.Exited.TrySetResult(-9);
            Forget(id, child);
        }
    }

    private async Task CollectStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_stderrTail)
                {
                    _stderrTail.Enqueue(line);
                    while (_stderrTail.Count > StderrTailLines)
                    {
                        _stderrTail.Dequeue();
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Kills the zygote (and so every sandbox it forked) and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        await Exited.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _process.Dispose();
        _writeLock.Dispose();
    }
}
