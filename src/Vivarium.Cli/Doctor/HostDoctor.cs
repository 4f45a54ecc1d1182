using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Vivarium.Cli.Local;
using Vivarium.Engine.Executions;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Cli.Doctor;

/// <summary>What <c>doctor</c> examines; the defaults are what a server would use.</summary>
/// <param name="Sandbox">The sandbox settings whose binaries are checked (bwrap, setpriv, python3).</param>
/// <param name="PythonModules">Modules that must be importable.</param>
/// <param name="StartRealSandbox">Whether to finish with a real session running <c>1+1</c>.</param>
internal sealed record DoctorSettings(BubblewrapOptions Sandbox, IReadOnlyList<PythonModuleRequirement> PythonModules, bool StartRealSandbox)
{
    /// <summary>The server's defaults and every module the sandbox promises.</summary>
    public static DoctorSettings Default => new(new BubblewrapOptions(), SandboxRequirements.PythonModules, StartRealSandbox: true);
}

/// <summary>
/// Examines this host for what sandboxes need, one check at a time, from the cheapest to a
/// real sandbox, and says for each failure what to install or change.
/// </summary>
internal sealed partial class HostDoctor(DoctorSettings settings)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(20);

    /// <summary>An unprivileged uid for the trial sandbox: nobody.</summary>
    private const string TrialUid = "65534";

    /// <summary>Runs every check, handing each to <paramref name="report"/> as soon as it is known.</summary>
    public async Task<IReadOnlyList<DoctorCheck>> RunAsync(Action<DoctorCheck> report, CancellationToken cancellationToken)
    {
        var checks = new List<DoctorCheck>();
        void Add(DoctorCheck check)
        {
            checks.Add(check);
            report(check);
        }
        var options = settings.Sandbox;

        var root = CheckRoot();
        Add(root);
        var bwrap = await CheckBubblewrapAsync(options.BwrapPath);
        Add(bwrap);
        var setpriv = await CheckSetprivAsync(options.SetprivPath);
        Add(setpriv);
        var userNamespaces = CheckUserNamespaces();
        Add(userNamespaces);
        // As root, the trial drops to an unprivileged uid with setpriv, as a real sandbox does;
        // otherwise it runs as the current user, which tells the same about user namespaces.
        var asRoot = root.Outcome == CheckOutcome.Ok;
        var trial = bwrap.Outcome == CheckOutcome.Ok && (!asRoot || setpriv.Outcome == CheckOutcome.Ok)
            ? await TrySandboxAsync(options, asRoot)
            : DoctorCheck.Skipped("trial sandbox", "needs bubblewrap (and setpriv, as root) first");
        Add(trial);
        Add(CheckCgroups(options));
        var python = await CheckPythonAsync(options.PythonPath);
        Add(python);
        if (python.Outcome == CheckOutcome.Ok)
        {
            foreach (var check in await CheckModulesAsync(options.PythonPath, settings.PythonModules, cancellationToken))
            {
                Add(check);
            }
        }
        else
        {
            foreach (var module in settings.PythonModules)
            {
                Add(DoctorCheck.Skipped($"python module {module.Module}", "needs /usr/bin/python3 first"));
            }
        }
        if (settings.StartRealSandbox)
        {
            Add(checks.Any(c => c.Outcome == CheckOutcome.Failed)
                ? DoctorCheck.Skipped("real session", "fix the failures above first")
                : await RunRealSessionAsync(cancellationToken));
        }
        return checks;
    }

    // ------------------------------------------------------------------------------------

    private static DoctorCheck CheckRoot()
    {
        const string name = "root";
        var uid = ReadEffectiveUid();
        return uid == 0
            ? DoctorCheck.Ok(name, "running as root (needed to create cgroups and give each workspace its own uid)")
            : DoctorCheck.Failed(name, $"running as uid {uid?.ToString(CultureInfo.InvariantCulture) ?? "?"}, not root",
                "run as root (sudo ./vivarium …): the sandbox backend creates cgroups and runs each workspace as its own unprivileged uid");
    }

    private static int? ReadEffectiveUid()
    {
        // "Uid:\treal\teffective\tsaved\tfs"
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        var fields = line?.Split('\t', StringSplitOptions.RemoveEmptyEntries);
        return fields is { Length: >= 3 } && int.TryParse(fields[2], CultureInfo.InvariantCulture, out int uid) ? uid : null;
    }

    private static async Task<DoctorCheck> CheckBubblewrapAsync(string path)
    {
        const string name = "bubblewrap";
        if (!File.Exists(path))
        {
            return DoctorCheck.MissingPackages(name, $"not found at {path}", "bubblewrap");
        }
        var probe = await ProcessProbe.RunAsync(path, ["--version"], ProbeTimeout);
        var match = VersionPattern().Match(probe.Stdout);
        if (!probe.Succeeded || !match.Success)
        {
            return DoctorCheck.MissingPackages(name, $"{path} --version failed: {probe.Gist}", "bubblewrap");
        }
        var version = Version.Parse(match.Value);
        if (version < SandboxRequirements.MinimumBubblewrap)
        {
            return DoctorCheck.Failed(name, $"bubblewrap {version} at {path}; {SandboxRequirements.MinimumBubblewrap} or later is needed (--disable-userns)",
                "upgrade bubblewrap (Debian 12 ships 0.8.0: apt-get install -y bubblewrap)");
        }
        return DoctorCheck.Ok(name, $"bubblewrap {version} at {path}");
    }

    private static async Task<DoctorCheck> CheckSetprivAsync(string path)
    {
        const string name = "setpriv";
        if (!File.Exists(path))
        {
            return DoctorCheck.MissingPackages(name, $"not found at {path} (it drops bubblewrap to an unprivileged uid)", "util-linux");
        }
        var probe = await ProcessProbe.RunAsync(path, ["--version"], ProbeTimeout);
        return probe.Succeeded
            ? DoctorCheck.Ok(name, $"{probe.Gist} at {path}")
            : DoctorCheck.MissingPackages(name, $"{path} --version failed: {probe.Gist}", "util-linux");
    }

    private static DoctorCheck CheckUserNamespaces()
    {
        const string name = "user namespaces";
        var found = new List<string>();
        if (ReadSysctl("kernel/unprivileged_userns_clone") is { } clone)
        {
            if (clone != "1")
            {
                return DoctorCheck.Failed(name, "kernel.unprivileged_userns_clone is 0: unprivileged users cannot create user namespaces",
                    "sysctl -w kernel.unprivileged_userns_clone=1, and keep it: echo kernel.unprivileged_userns_clone=1 > /etc/sysctl.d/50-vivarium.conf");
            }
            found.Add("kernel.unprivileged_userns_clone=1");
        }
        if (ReadSysctl("user/max_user_namespaces") is { } max)
        {
            if (!long.TryParse(max, CultureInfo.InvariantCulture, out long count) || count <= 0)
            {
                return DoctorCheck.Failed(name, $"user.max_user_namespaces is {max}: no user namespaces can be created",
                    "sysctl -w user.max_user_namespaces=15000, and keep it in /etc/sysctl.d/50-vivarium.conf");
            }
            found.Add($"user.max_user_namespaces={count}");
        }
        if (ReadSysctl("kernel/apparmor_restrict_unprivileged_userns") == "1")
        {
            return new DoctorCheck(name, CheckOutcome.Warning, "kernel.apparmor_restrict_unprivileged_userns=1: AppArmor may refuse bubblewrap's namespaces (the trial sandbox below tells)",
                "if the trial fails: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for /usr/bin/bwrap");
        }
        return DoctorCheck.Ok(name, found.Count > 0 ? string.Join(", ", found) : "no sysctl restricts them");
    }

    private static string? ReadSysctl(string path)
    {
        var file = Path.Combine("/proc/sys", path);
        try
        {
            return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static async Task<DoctorCheck> TrySandboxAsync(BubblewrapOptions options, bool dropToUnprivilegedUid)
    {
        const string name = "trial sandbox";
        // The same shape as a real sandbox (unprivileged uid, every namespace, nested user
        // namespaces disabled), minus the runner: only /usr/bin/true. Without --die-with-parent:
        // it ties bwrap to the thread that forked it (PR_SET_PDEATHSIG), here whichever pool
        // thread ran the probe, and a pool thread may end while the probe runs (the check failed
        // once in CI with SIGKILL, exit code 137, likely so). The probe kills what it started on
        // its own timeout.
        string[] bwrap =
        [
            "--unshare-all", "--unshare-user", "--disable-userns", "--new-session",
            "--cap-drop", "ALL", "--uid", "1000", "--gid", "1000",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "/usr/bin/true",
        ];
        var probe = dropToUnprivilegedUid
            ? await ProcessProbe.RunAsync(options.SetprivPath, [$"--reuid={TrialUid}", $"--regid={TrialUid}", "--clear-groups", "--", options.BwrapPath, .. bwrap], ProbeTimeout)
            : await ProcessProbe.RunAsync(options.BwrapPath, bwrap, ProbeTimeout);
        var who = dropToUnprivilegedUid ? $"uid {TrialUid}" : "the current user";
        return probe.Succeeded
            ? DoctorCheck.Ok(name, $"bwrap --unshare-all ran /usr/bin/true as {who} in new user, pid, network, mount, ipc and uts namespaces")
            : DoctorCheck.Failed(name, $"bwrap could not build a sandbox as {who}: {probe.Gist}",
                "unprivileged user namespaces must work: see the 'user namespaces' check; in a container, run it with --privileged or with user namespaces allowed (seccomp/AppArmor)");
    }

    private static DoctorCheck CheckCgroups(BubblewrapOptions options)
    {
        const string name = "cgroups";
        using var backend = new BubblewrapBackend(Options.Create(options), NullLogger<BubblewrapBackend>.Instance);
        return backend.CgroupMode switch
        {
            CgroupMode.V2 => DoctorCheck.Ok(name, "cgroup v2 with memory, pids and cpu controllers: memory, process and CPU limits are enforced"),
            CgroupMode.V1 => DoctorCheck.Ok(name, "cgroup v1 memory, pids and cpu hierarchies: memory, process and CPU limits are enforced"),
            _ => DoctorCheck.Failed(name, $"no usable memory, pids and cpu controllers ({DescribeCgroupRoot()}): limits could not be enforced, so sandboxes will not start",
                "boot with cgroup v2 delegated (systemd.unified_cgroup_hierarchy=1) or mount the v1 memory, pids and cpu controllers under /sys/fs/cgroup; in a container, give it its own writable cgroup (--cgroupns=private with a writable /sys/fs/cgroup)"),
        };
    }

    private static string DescribeCgroupRoot()
    {
        const string root = "/sys/fs/cgroup";
        var controllers = Path.Combine(root, "cgroup.controllers");
        if (File.Exists(controllers))
        {
            var available = File.ReadAllText(controllers).Trim();
            return $"{controllers} offers '{(available.Length == 0 ? "nothing" : available)}'";
        }
        return Directory.Exists(root) ? $"{root} has no memory, pids and cpu hierarchies" : $"{root} does not exist";
    }

    private static async Task<DoctorCheck> CheckPythonAsync(string path)
    {
        const string name = "python";
        if (!File.Exists(path))
        {
            return DoctorCheck.MissingPackages(name, $"not found at {path} (sandboxes run Debian's Python, never one from PATH)", "python3");
        }
        var probe = await ProcessProbe.RunAsync(path, ["-I", "-c", "import sys; print(sys.version.split()[0])"], ProbeTimeout);
        return probe.Succeeded
            ? DoctorCheck.Ok(name, $"Python {probe.Stdout.Trim()} at {path}")
            : DoctorCheck.MissingPackages(name, $"{path} does not run: {probe.Gist}", "python3");
    }

    /// <summary>Imports every module in one Python process and reads back one JSON line per module.</summary>
    private static async Task<IReadOnlyList<DoctorCheck>> CheckModulesAsync(string python, IReadOnlyList<PythonModuleRequirement> modules, CancellationToken cancellationToken)
    {
        const string script = """
            import importlib, json, sys
            for name in sys.argv[1:]:
                try:
                    module = importlib.import_module(name)
                    print(json.dumps({"module": name, "ok": True, "version": str(getattr(module, "__version__", ""))}), flush=True)
                except BaseException as e:
                    print(json.dumps({"module": name, "ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
            """;
        var scratch = Directory.CreateTempSubdirectory("vivarium-doctor-");
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["PATH"] = "/usr/bin:/bin",
                ["LANG"] = "C.UTF-8",
                ["HOME"] = scratch.FullName,
                ["MPLCONFIGDIR"] = scratch.FullName,
                ["MPLBACKEND"] = "Agg",
                ["PYTHONDONTWRITEBYTECODE"] = "1",
            };
            var probe = await ProcessProbe.RunAsync(python, ["-I", "-c", script, .. modules.Select(m => m.Module)], TimeSpan.FromSeconds(120), environment);
            var results = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var line in probe.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                try
                {
                    using var document = JsonDocument.Parse(line);
                    results[document.RootElement.GetProperty("module").GetString()!] = document.RootElement.Clone();
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    // Something the module itself printed; not ours.
                }
            }
            return modules.Select(m =>
            {
                var name = $"python module {m.Module}";
                if (!results.TryGetValue(m.Module, out var result))
                {
                    return DoctorCheck.MissingPackages(name, $"the import check stopped before it: {probe.Gist}", m.AptPackage);
                }
                if (result.GetProperty("ok").GetBoolean())
                {
                    var version = result.GetProperty("version").GetString();
                    return DoctorCheck.Ok(name, string.IsNullOrEmpty(version) ? "importable" : version);
                }
                return DoctorCheck.MissingPackages(name, $"not importable: {result.GetProperty("error").GetString()}", m.AptPackage);
            }).ToList();
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static async Task<DoctorCheck> RunRealSessionAsync(CancellationToken cancellationToken)
    {
        const string name = "real session";
        var errors = new StringWriter();
        try
        {
            var started = Stopwatch.GetTimestamp();
            await using var engine = await LocalEngine.StartAsync(TimeSpan.Zero, errors, cancellationToken);
            var session = await engine.CreateSessionAsync(cancellationToken);
            var execution = await session.ExecuteAsync(new ExecuteRequest("1+1", TimeSpan.FromSeconds(30)), cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var result = execution.Result is { } r && r.TryGetValue("text/plain", out var text) ? text.GetString() : null;
            return execution.Status == ExecutionStatus.Ok && result == "2"
                ? DoctorCheck.Ok(name, $"a sandbox started and ran 1+1 = 2 in {elapsed.TotalSeconds:0.0} s (Python {session.Interpreter?.Python})")
                : DoctorCheck.Failed(name, $"1+1 gave {execution.Status} '{result}': {execution.Error?.Value ?? execution.Stderr}", "see the message; 'vivarium run' on a one-line script shows the whole output");
        }
        catch (Exception e) when (e is Engine.VivariumException or InvalidOperationException or IOException or OptionsValidationException)
        {
            return DoctorCheck.Failed(name, $"no sandbox could be started: {e.Message} {errors}".Trim(), "read the message above; every other check passed, so this is worth reporting as a bug");
        }
    }

    [GeneratedRegex(@"\d+\.\d+(\.\d+)?")]
    private static partial Regex VersionPattern();
}
