using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Sandboxes made of Linux namespaces (bubblewrap), cgroups and rlimits. See
/// <see cref="BubblewrapCommand"/> for the recipe and docs/architecture.md for the reasons.
/// </summary>
/// <remarks>
/// Two ways to start a sandbox share everything else here (workspaces, uids, cgroups, runtime
/// files): the bubblewrap recipe, and a fork server (<see cref="ForkServer.ForkServer"/>) whose
/// children build the same namespaces themselves. <see cref="BubblewrapOptions.Mode"/> chooses.
/// </remarks>
public sealed partial class BubblewrapBackend : ISandboxBackend, IDisposable, IAsyncDisposable
{
    private static readonly string[] PassThroughVariables =
    [
        // Some CPUs here need these for OpenBLAS to compute correctly; the sandbox's clean
        // environment would otherwise drop them.
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    ];

    private readonly BubblewrapOptions _options;
    private readonly ILogger<BubblewrapBackend> _logger;
    private readonly ProcessLauncher _launcher = new();
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private readonly HashSet<int> _uidSlotsInUse = [];
    private readonly Dictionary<string, string> _passThrough;
    private readonly WorkspaceVolumes _volumes;
    private readonly int _uidBase;
    private RuntimeFiles? _runtime;
    private CgroupHierarchy? _cgroups;
    private FileStream? _lock;
    private ForkServer.ForkServer? _forkServer;

    /// <summary>Creates the backend; nothing touches the host until <see cref="InitializeAsync"/>.</summary>
    public BubblewrapBackend(IOptions<BubblewrapOptions> options, ILogger<BubblewrapBackend> logger)
    {
        _options = options.Value;
        _logger = logger;
        StateDirectory = ResolveStateDirectory(_options.StateDirectory);
        // Servers on one host (a test run beside a production one) get disjoint uid ranges, so
        // their sandboxes never share a host uid either.
        var instanceHash = SHA256.HashData(Encoding.UTF8.GetBytes(StateDirectory));
        _uidBase = _options.HostUidBase + (int)(BitConverter.ToUInt32(instanceHash, 0) % 1000) * 100_000;
        _volumes = new WorkspaceVolumes(Path.Combine(StateDirectory, "images"), _options.WorkspaceQuotaBytes, _options.WorkspaceInodes);
        _passThrough = PassThroughVariables
            .Select(name => (name, value: Environment.GetEnvironmentVariable(name)))
            .Where(p => !string.IsNullOrEmpty(p.value))
            .ToDictionary(p => p.name, p => p.value!);
    }

    /// <inheritdoc />
    public string Name => _options.Mode;

    private bool UsesForkServer => _options.Mode == BubblewrapOptions.ForkServerMode;

    /// <summary>The fork server's zygote process, in fork-server mode once it runs (for tests and diagnostics).</summary>
    public int? ZygoteProcessId => _forkServer?.ZygoteProcessId;

    /// <inheritdoc />
    public SandboxLimits DefaultLimits => new()
    {
        MemoryBytes = _options.MemoryLimitBytes,
        MaxProcesses = _options.MaxProcesses,
        CpuCores = _options.CpuCores,
    };

    /// <summary>Where workspaces and runtime files live.</summary>
    public string StateDirectory { get; }

    /// <summary>The cgroup interface in use (known after initialisation).</summary>
    public CgroupMode CgroupMode => _cgroups?.Mode ?? CgroupHierarchy.DetectMode();

    private string WorkspacesDirectory => Path.Combine(StateDirectory, "workspaces");

    /// <summary>The default state directory: /var/lib/vivarium for root, else under XDG_STATE_HOME.</summary>
    public static string ResolveStateDirectory(string configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }
        if (Environment.UserName == "root")
        {
            return "/var/lib/vivarium";
        }
        var stateHome = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        return Path.Combine(string.IsNullOrEmpty(stateHome)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state")
            : stateHome, "vivarium");
    }

    /// <summary>
    /// The name of this server's parent cgroup: one per state directory, so two servers (or two
    /// test runs) with different directories never sweep each other's cgroups.
    /// </summary>
    internal static string InstanceName(string stateDirectory) =>
        "vivarium-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stateDirectory)))[..12];

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initLock.WaitAsync(cancellationToken);
        try
        {
            if (_runtime is not null)
            {
                return;
            }
            CheckPrerequisites();
            Directory.CreateDirectory(WorkspacesDirectory);
            File.SetUnixFileMode(StateDirectory, TraversableDirectory);
            File.SetUnixFileMode(WorkspacesDirectory, TraversableDirectory);
            CheckAncestorsTraversable(StateDirectory);
            _lock = TakeLock();

            _cgroups = CgroupHierarchy.Detect(InstanceName(StateDirectory));
            if (_cgroups.Mode == CgroupMode.None)
            {
                throw new SandboxStartException("no usable cgroup controllers (memory, pids, cpu): sandboxes would run without limits. Run 'vivarium doctor'.");
            }
            _cgroups.Initialize();
            int cgroups = _cgroups.SweepOrphans();
            _volumes.SweepOrphans(WorkspacesDirectory);
            await _volumes.InitializeAsync(cancellationToken);
            int workspaces = SweepWorkspaces();
            if (cgroups + workspaces > 0)
            {
                Log.OrphansRemoved(_logger, cgroups, workspaces);
            }
            _runtime = await RuntimeFiles.PrepareAsync(Path.Combine(StateDirectory, "runtime"), _options.PythonPath, cancellationToken);
            if (UsesForkServer)
            {
                _forkServer = new ForkServer.ForkServer(_options, _runtime, Path.Combine(StateDirectory, "forkserver"), _passThrough, _launcher, _logger);
                await _forkServer.Ready.WaitAsync(cancellationToken);
            }
            Log.Initialized(_logger, _options.Mode, StateDirectory, _cgroups.Mode);
        }
        finally
        {
            _initLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<SandboxWorkspace> CreateWorkspaceAsync(CancellationToken cancellationToken)
    {
        var id = "ws_" + NewId();
        var path = Path.Combine(WorkspacesDirectory, id);
        int uid = AllocateUid();
        try
        {
            Directory.CreateDirectory(path);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (Chown(path, uid, uid) != 0)
            {
                throw new SandboxStartException($"could not give the workspace to uid {uid} (errno {Marshal.GetLastPInvokeError()})");
            }
            if (_volumes.Enabled)
            {
                await _volumes.CreateAsync(id, path, uid, cancellationToken);
            }
        }
        catch
        {
            if (_volumes.Enabled)
            {
                TryDeleteVolume(id, path);
            }
            DeleteTree(path);
            ReleaseUid(uid);
            throw;
        }
        return new SandboxWorkspace(id, path, uid);
    }

    /// <inheritdoc />
    public async Task DeleteWorkspaceAsync(SandboxWorkspace workspace, CancellationToken cancellationToken)
    {
        await Task.Run(() =>
        {
            if (_volumes.Enabled)
            {
                TryDeleteVolume(workspace.Id, workspace.HostPath);
            }
            DeleteTree(workspace.HostPath);
        }, cancellationToken);
        ReleaseUid(workspace.HostUid);
    }

    private void TryDeleteVolume(string workspaceId, string path)
    {
        try
        {
            _volumes.Delete(workspaceId, path);
        }
        catch (Exception e) when (e is SandboxStartException or IOException)
        {
            // The next start's sweep unmounts and deletes whatever is left.
            Log.VolumeNotDeleted(_logger, workspaceId, e.Message);
        }
    }

    /// <inheritdoc />
    public async Task<ISandbox> StartAsync(SandboxWorkspace workspace, SandboxLimits limits, CancellationToken cancellationToken)
    {
        var runtime = _runtime ?? throw new InvalidOperationException("InitializeAsync must run first");
        var id = "sbx_" + NewId();
        // :: Step 1: the cgroup, with its limits, before any process exists. The configured
        // limits are a ceiling: a session may ask for less, never for more.
        int maxProcesses = Math.Min(limits.MaxProcesses ?? int.MaxValue, _options.MaxProcesses);
        var cgroup = _cgroups!.Create(id,
            Math.Min(limits.MemoryBytes ?? long.MaxValue, _options.MemoryLimitBytes),
            maxProcesses,
            Math.Min(limits.CpuCores ?? double.MaxValue, _options.CpuCores));
        if (_forkServer is not null)
        {
            try
            {
                var forked = await _forkServer.StartAsync(id, workspace, cgroup, maxProcesses, cancellationToken);
                Log.SandboxStarted(_logger, id, workspace.Id, forked.Info.StartupMs);
                return forked;
            }
            catch
            {
                cgroup.KillAllAndRemove();
                throw;
            }
        }

        // :: Step 2: the argv (the whole isolation recipe) and an empty environment for bwrap,
        // which is pid 1 in the sandbox and whose environment is readable at /proc/1/environ.
        var (fileName, arguments) = BubblewrapCommand.Build(new SandboxLaunchPlan(_options, runtime, workspace, cgroup.JoinFiles, _passThrough, maxProcesses));
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment.Clear();

        // :: Step 3: spawn from the launcher thread, then wait for the runner's "ready".
        Process process;
        try
        {
            process = await _launcher.StartAsync(start);
        }
        catch (Exception e)
        {
            cgroup.KillAllAndRemove();
            throw new SandboxStartException($"could not start bubblewrap: {e.Message}", e);
        }
        var sandbox = new BubblewrapSandbox(id, workspace, process, cgroup, _options.MaxFrameBytes, _options.MaxDisplayBytes, _logger);
        try
        {
            await sandbox.StartAsync(_options.StartTimeout, cancellationToken);
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
        Log.SandboxStarted(_logger, id, workspace.Id, sandbox.Info.StartupMs);
        return sandbox;
    }

    /// <summary>The parent cgroups a backend on <paramref name="stateDirectory"/> uses (for doctor and tests).</summary>
    public static IReadOnlyList<string> InstanceCgroupDirectories(string stateDirectory) =>
        CgroupHierarchy.InstanceDirectories(InstanceName(Path.GetFullPath(stateDirectory)));

    /// <summary>Releases the state-directory lock and the launcher thread, and removes the instance's cgroups.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (_forkServer is not null)
        {
            await _forkServer.DisposeAsync();
            _forkServer = null;
        }
        _launcher.Dispose();
        _cgroups?.RemoveInstance();
        _lock?.Dispose();
        _initLock.Dispose();
    }

    private void CheckPrerequisites()
    {
        var tools = UsesForkServer
            ? new[] { (_options.PythonPath, "Python") }
            : new[] { (_options.BwrapPath, "bubblewrap"), (_options.PythonPath, "Python"), (_options.SetprivPath, "setpriv") };
        foreach (var (path, what) in tools)
        {
            if (!File.Exists(path))
            {
                throw new SandboxStartException($"{what} was not found at {path}. Run './vivarium doctor'.");
            }
        }
        if (Environment.UserName != "root")
        {
            throw new SandboxStartException("the bubblewrap backend must run as root: it creates cgroups and gives each workspace its own unprivileged uid");
        }
    }

    private const UnixFileMode TraversableDirectory =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private static void CheckAncestorsTraversable(string directory)
    {
        for (var dir = Path.GetDirectoryName(directory); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (!File.GetUnixFileMode(dir).HasFlag(UnixFileMode.OtherExecute))
            {
                throw new SandboxStartException($"the state directory {directory} sits in {dir}, which other users cannot enter; sandboxes run as unprivileged users and must reach their workspace. Choose another Vivarium:Sandbox:StateDirectory.");
            }
        }
    }

    private FileStream TakeLock()
    {
        try
        {
            return new FileStream(Path.Combine(StateDirectory, "server.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new SandboxStartException($"another Vivarium server is using {StateDirectory}");
        }
    }

    private int SweepWorkspaces()
    {
        int count = 0;
        foreach (var dir in Directory.EnumerateDirectories(WorkspacesDirectory))
        {
            DeleteTree(dir);
            count++;
        }
        return count;
    }

    private static void DeleteTree(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Deep or odd trees made by user code: let rm, which handles any depth, finish the job.
            using var rm = Process.Start(new ProcessStartInfo("/bin/rm", ["-rf", "--one-file-system", "--", path]) { UseShellExecute = false });
            rm?.WaitForExit();
        }
    }

    private int AllocateUid()
    {
        lock (_uidSlotsInUse)
        {
            for (int slot = 0; slot < 100_000; slot++) // the width of one instance's range
            {
                if (_uidSlotsInUse.Add(slot))
                {
                    return _uidBase + slot;
                }
            }
        }
        throw new SandboxStartException("no free host uid for a new workspace");
    }

    private void ReleaseUid(int uid)
    {
        lock (_uidSlotsInUse)
        {
            _uidSlotsInUse.Remove(uid - _uidBase);
        }
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chown(string path, int owner, int group);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Sandbox backend ready ({Mode} mode): state in {StateDirectory}, cgroups {CgroupMode}")]
        public static partial void Initialized(ILogger logger, string mode, string stateDirectory, CgroupMode cgroupMode);

        [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Removed what a previous run left behind: {Cgroups} cgroups, {Workspaces} workspaces")]
        public static partial void OrphansRemoved(ILogger logger, int cgroups, int workspaces);

        [LoggerMessage(EventId = 1204, Level = LogLevel.Warning, Message = "The filesystem of workspace {WorkspaceId} could not be removed: {Reason}")]
        public static partial void VolumeNotDeleted(ILogger logger, string workspaceId, string reason);

        [LoggerMessage(EventId = 1203, Level = LogLevel.Debug, Message = "Sandbox {SandboxId} started on {WorkspaceId}; runner ready in {StartupMs} ms")]
        public static partial void SandboxStarted(ILogger logger, string sandboxId, string workspaceId, double startupMs);
    }
}
