using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Sandbox.ForkServer;

/// <summary>
/// Starts sandboxes by asking a zygote to fork them (runner/vivarium_zygote.py explains the
/// process chain), and keeps one zygote running: when it dies (and its sandboxes with it) the
/// next one is started at once; starts meanwhile wait for it, or fail saying why.
/// </summary>
internal sealed partial class ForkServer : IAsyncDisposable
{
    private readonly BubblewrapOptions _options;
    private readonly RuntimeFiles _runtime;
    private readonly IReadOnlyDictionary<string, string> _passThrough;
    private readonly ProcessLauncher _launcher;
    private readonly ILogger _logger;
    private readonly RunnerListener _listener;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private Task<Zygote> _zygote;

    public ForkServer(BubblewrapOptions options, RuntimeFiles runtime, string socketDirectory, IReadOnlyDictionary<string, string> passThrough, ProcessLauncher launcher, ILogger logger)
    {
        _options = options;
        _runtime = runtime;
        _passThrough = passThrough;
        _launcher = launcher;
        _logger = logger;
        _listener = new RunnerListener(socketDirectory);
        _zygote = StartZygoteAsync();
    }

    /// <summary>Completes when the first zygote is ready (or failed).</summary>
    public Task Ready => _zygote;

    /// <summary>The zygote's process id, for tests and diagnostics; null while none is running.</summary>
    public int? ZygoteProcessId => _zygote.IsCompletedSuccessfully ? _zygote.Result.ProcessId : null;

    public async Task<ISandbox> StartAsync(string id, SandboxWorkspace workspace, SandboxCgroup cgroup, int maxProcesses, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.StartTimeout);
        Zygote zygote;
        try
        {
            zygote = await CurrentZygoteAsync().WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SandboxStartException($"the fork server was not ready within {_options.StartTimeout.TotalSeconds:0} s");
        }

        var connection = _listener.Expect(id);
        ZygoteChild child;
        try
        {
            child = await zygote.SpawnAsync(id, SpawnRequest(workspace, cgroup, maxProcesses), deadline.Token);
            await child.Spawned.Task.WaitAsync(deadline.Token);
            // The runner channel, or the sandbox's end if its set-up failed before connecting.
            var first = await Task.WhenAny(connection, child.Exited.Task).WaitAsync(deadline.Token);
            if (first != connection)
            {
                var detail = zygote.StderrTail(id);
                throw new SandboxStartException($"the sandbox's set-up failed (exit code {child.Exited.Task.Result}){(detail.Length > 0 ? ": " + detail : "")}");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _listener.Forget(id);
            await zygote.KillAsync(id);
            throw new SandboxStartException($"the sandbox did not start within {_options.StartTimeout.TotalSeconds:0} s");
        }
        catch
        {
            _listener.Forget(id);
            await zygote.KillAsync(id);
            throw;
        }

        var sandbox = new ForkServerSandbox(id, workspace, connection.Result, child, zygote, cgroup, _options.MaxFrameBytes, _options.MaxDisplayBytes, _logger);
        try
        {
            await sandbox.StartAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await sandbox.DisposeAsync();
            throw new SandboxStartException($"the sandbox did not become ready within {_options.StartTimeout.TotalSeconds:0} s");
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
        return sandbox;
    }

    private Task<Zygote> CurrentZygoteAsync()
    {
        lock (_gate)
        {
            // A failed start is retried by the next sandbox start rather than remembered forever.
            if (_zygote.IsFaulted && !_disposed.IsCancellationRequested)
            {
                _zygote = StartZygoteAsync();
            }
            return _zygote;
        }
    }

    private async Task<Zygote> StartZygoteAsync()
    {
        var zygote = await Zygote.StartAsync(_launcher.StartAsync, ZygoteStartInfo(), ZygoteConfig(), _options.StartTimeout, _disposed.Token);
        Log.ZygoteStarted(_logger, zygote.ProcessId);
        _ = RestartWhenDeadAsync(zygote);
        return zygote;
    }

    private async Task RestartWhenDeadAsync(Zygote zygote)
    {
        await zygote.Exited;
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        Log.ZygoteDied(_logger, zygote.ProcessId, zygote.StderrTail(null));
        lock (_gate)
        {
            _zygote = StartZygoteAsync();
        }
        await zygote.DisposeAsync();
    }

    private ProcessStartInfo ZygoteStartInfo()
    {
        // -I: no user site, no script directory on sys.path, no PYTHON* variables.
        var start = new ProcessStartInfo(_options.PythonPath)
        {
            ArgumentList = { "-s", "-I", _runtime.ZygotePath },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        // The sandbox's own allow-listed environment, never the server's: every sandbox's memory
        // starts as a copy of the zygote's, environment block included.
        start.Environment.Clear();
        foreach (var (name, value) in BubblewrapCommand.SandboxEnvironment(_passThrough))
        {
            start.Environment[name] = value;
        }
        return start;
    }

    private JsonObject ZygoteConfig() => new()
    {
        ["type"] = "config",
        // Set by the zygote itself, after exec (see there): matplotlib reads its font cache
        // from the runtime copy at import; HOME keeps anything else away from a user's home;
        // the IPython shell the zygote builds before forking writes its profile there, never
        // in the host's /tmp (each sandbox re-points it to its own /tmp after the fork).
        ["env"] = new JsonObject
        {
            ["MPLCONFIGDIR"] = _runtime.MatplotlibCacheDirectory,
            ["HOME"] = _runtime.Directory,
            ["IPYTHONDIR"] = Path.Combine(_runtime.Directory, "ipython"),
        },
        ["runner_path"] = _runtime.RunnerPath,
        ["socket_path"] = _listener.SocketPath,
        ["preload"] = Strings(_options.Preload),
        ["report_packages"] = Strings(_options.ReportedPackages),
    };

    private JsonObject SpawnRequest(SandboxWorkspace workspace, SandboxCgroup cgroup, int maxProcesses)
    {
        var env = new JsonObject();
        foreach (var (name, value) in BubblewrapCommand.SandboxEnvironment(_passThrough))
        {
            env[name] = value;
        }
        var fonts = Directory.Exists(_runtime.MatplotlibCacheDirectory)
            ? Directory.EnumerateFiles(_runtime.MatplotlibCacheDirectory, "fontlist-*.json").ToList()
            : [];
        return new JsonObject
        {
            ["host_uid"] = workspace.HostUid,
            ["workspace"] = workspace.HostPath,
            ["cgroup_files"] = Strings(cgroup.JoinFiles),
            ["seccomp_path"] = _runtime.SeccompFilterPath,
            ["optional_files"] = Strings(BubblewrapCommand.OptionalReadOnlyFiles),
            ["passwd_path"] = _runtime.PasswdPath,
            ["group_path"] = _runtime.GroupPath,
            ["runner_path"] = _runtime.RunnerPath,
            ["matplotlib_files"] = Strings(fonts),
            ["tmp_bytes"] = _options.TmpSizeBytes,
            ["shm_bytes"] = Math.Min(_options.TmpSizeBytes, 64L * 1024 * 1024),
            ["env"] = env,
            ["runner"] = JsonNode.Parse(BubblewrapCommand.RunnerConfig(_options, maxProcesses)),
        };
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)v).ToArray());

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync();
        Task<Zygote> current;
        lock (_gate)
        {
            current = _zygote;
        }
        await ((Task)current).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (current.IsCompletedSuccessfully)
        {
            await current.Result.DisposeAsync();
        }
        await _listener.DisposeAsync();
        _disposed.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "Fork server ready (pid {Pid})")]
        public static partial void ZygoteStarted(ILogger logger, int pid);

        [LoggerMessage(EventId = 1302, Level = LogLevel.Error, Message = "The fork server (pid {Pid}) died, and its sandboxes with it; starting a new one. Its last words: {Stderr}")]
        public static partial void ZygoteDied(ILogger logger, int pid, string stderr);
    }
}
