using System.Text.Json;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>Everything that decides how one sandbox is started.</summary>
internal sealed record SandboxLaunchPlan(
    BubblewrapOptions Options,
    RuntimeFiles Runtime,
    SandboxWorkspace Workspace,
    IReadOnlyList<string> CgroupJoinFiles,
    IReadOnlyDictionary<string, string> PassThroughEnvironment,
    int MaxProcesses);

/// <summary>
/// Turns a <see cref="SandboxLaunchPlan"/> into the argv that starts the sandbox. Pure, so
/// the whole isolation recipe can be read (and golden-tested) in one place.
/// </summary>
/// <remarks>
/// The chain is: <c>/bin/sh</c> joins the cgroups (as root, before anything of the user's
/// runs) and opens the seccomp filter → <c>setsid</c> gives it a session of its own →
/// <c>setpriv</c> drops to the workspace's unprivileged host uid → <c>bwrap</c>
/// builds the namespaces and the filesystem → <c>python3</c> runs the runner as uid 1000.
/// Each step execs the next, so the process the server holds is the sandbox's root.
/// </remarks>
internal static class BubblewrapCommand
{
    public const string WorkspaceMount = "/home/user";
    public const string RunnerMount = "/opt/vivarium/vivarium_runner.py";
    public const string MatplotlibConfigMount = "/tmp/matplotlib";
    public const int SandboxUid = 1000;

    // $1 is the seccomp filter, opened as fd 9 for bwrap's --seccomp; then joins every cgroup
    // named before "--", then execs the rest.
    private const string JoinCgroupsScript = """filter=$1; shift; while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@" 9<"$filter" """;
    private const string SeccompFd = "9";

    /// <summary>Read-only host paths every sandbox needs, bound only when they exist.</summary>
    internal static readonly string[] OptionalReadOnlyFiles =
    [
        "/etc/alternatives",   // Debian's BLAS and LAPACK are chosen through these links
        "/etc/ld.so.cache",
        "/etc/matplotlibrc",   // Debian's matplotlib refuses to import without it
        "/etc/fonts",
        "/etc/localtime",
        "/etc/mime.types",
    ];

    public static (string FileName, IReadOnlyList<string> Arguments) Build(SandboxLaunchPlan plan)
    {
        var o = plan.Options;
        var args = new List<string> { "-c", JoinCgroupsScript, "vivarium-sandbox", plan.Runtime.SeccompFilterPath };
        args.AddRange(plan.CgroupJoinFiles);
        args.Add("--");

        // Drop root before bubblewrap runs: it then needs only an unprivileged user namespace,
        // and everything the sandbox writes belongs to this workspace's own host uid.
        var uid = plan.Workspace.HostUid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // setsid execs in place (the chain is never a process-group leader): a session of its own.
        args.AddRange([o.SetsidPath, o.SetprivPath, $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--"]);

        args.AddRange([
            o.BwrapPath,
            // Namespaces: user, pid, net (no interfaces but a private loopback), ipc, uts, cgroup, mount.
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent",   // no sandbox outlives the server
            "--new-session",       // no TIOCSTI into the server's terminal
            "--cap-drop", "ALL",
            "--seccomp", SeccompFd, // SeccompPolicy, loaded just before the runner starts
            "--uid", "1000", "--gid", "1000",
            "--hostname", "sandbox",
            // A read-only system.
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
        ]);
        foreach (var path in OptionalReadOnlyFiles.Where(p => File.Exists(p) || Directory.Exists(p)))
        {
            args.AddRange(["--ro-bind", path, path]);
        }
        args.AddRange([
            "--ro-bind", plan.Runtime.PasswdPath, "/etc/passwd",
            "--ro-bind", plan.Runtime.GroupPath, "/etc/group",
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", Bytes(o.TmpSizeBytes), "--tmpfs", "/tmp",
            "--size", Bytes(Math.Min(o.TmpSizeBytes, 64L * 1024 * 1024)), "--tmpfs", "/dev/shm",
            "--dir", MatplotlibConfigMount,
        ]);
        if (Directory.Exists(plan.Runtime.MatplotlibCacheDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(plan.Runtime.MatplotlibCacheDirectory, "fontlist-*.json"))
            {
                args.AddRange(["--ro-bind", file, $"{MatplotlibConfigMount}/{Path.GetFileName(file)}"]);
            }
        }
        args.AddRange([
            "--bind", plan.Workspace.HostPath, WorkspaceMount,
            "--ro-bind", plan.Runtime.RunnerPath, RunnerMount,
            "--chdir", WorkspaceMount,
            "--clearenv",
        ]);
        foreach (var (name, value) in SandboxEnvironment(plan.PassThroughEnvironment))
        {
            args.AddRange(["--setenv", name, value]);
        }
        args.AddRange(["--", o.PythonPath, "-s", RunnerMount, RunnerConfig(o, plan.MaxProcesses)]);
        return ("/bin/sh", args);
    }

    /// <summary>The sandbox's whole environment: an allow-list, never the server's own.</summary>
    public static IEnumerable<KeyValuePair<string, string>> SandboxEnvironment(IReadOnlyDictionary<string, string> passThrough)
    {
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["HOME"] = WorkspaceMount,
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["LANG"] = "C.UTF-8",
            ["PYTHONDONTWRITEBYTECODE"] = "1",
            ["MPLCONFIGDIR"] = MatplotlibConfigMount,
            ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline",
            ["XDG_CACHE_HOME"] = "/tmp/.cache",
            ["IPYTHONDIR"] = "/tmp/.ipython",
            // One BLAS thread: the cgroup's CPU quota is the real limit, and N threads on a
            // 1-core quota only thrash.
            ["OPENBLAS_NUM_THREADS"] = "1",
            ["OMP_NUM_THREADS"] = "1",
            ["MKL_NUM_THREADS"] = "1",
        };
        foreach (var (name, value) in passThrough)
        {
            env[name] = value;
        }
        return env;
    }

    internal static string RunnerConfig(BubblewrapOptions o, int maxProcesses) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        // The cgroup's limit, so the runner can tell a fork bomb's leftovers from a busy cell.
        ["max_processes"] = maxProcesses,
        ["preload"] = o.Preload,
        ["report_packages"] = o.ReportedPackages,
        ["max_display_bytes"] = o.MaxDisplayBytes,
        ["max_stream_bytes"] = o.MaxStreamBytes,
        ["max_file_bytes"] = o.MaxTransferFileBytes,
        ["rlimits"] = new Dictionary<string, long>
        {
            ["core_bytes"] = 0,
            ["file_size_bytes"] = o.MaxFileSizeBytes,
            ["open_files"] = o.MaxOpenFiles,
        },
    });

    private static string Bytes(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
