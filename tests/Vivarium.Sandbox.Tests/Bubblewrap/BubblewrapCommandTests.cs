using System.Text.Json;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Sandbox.Tests.Bubblewrap;

public sealed class BubblewrapCommandTests
{
    private static readonly string[] CgroupJoinFiles =
    [
        "/sys/fs/cgroup/memory/vivarium-abc/sbx_1/tasks",
        "/sys/fs/cgroup/pids/vivarium-abc/sbx_1/tasks",
        "/sys/fs/cgroup/cpu/vivarium-abc/sbx_1/tasks",
    ];

    private static (string FileName, IReadOnlyList<string> Arguments) Build(Dictionary<string, string>? passThrough = null) =>
        BubblewrapCommand.Build(new SandboxLaunchPlan(
            new BubblewrapOptions(),
            new RuntimeFiles("/nonexistent/vivarium/runtime"),
            new SandboxWorkspace("ws_1", "/var/lib/vivarium/workspaces/ws_1", 200_007),
            CgroupJoinFiles,
            passThrough ?? [],
            MaxProcesses: 64));

    // The system files bound read-only when the host has them; the golden argv takes the same
    // host as it finds it, so the test holds on a machine without, say, /etc/matplotlibrc.
    private static IEnumerable<string> OptionalBinds() =>
        new[] { "/etc/alternatives", "/etc/ld.so.cache", "/etc/matplotlibrc", "/etc/fonts", "/etc/localtime", "/etc/mime.types" }
            .Where(p => File.Exists(p) || Directory.Exists(p))
            .SelectMany(p => new[] { "--ro-bind", p, p });

    /// <summary>
    /// The whole isolation recipe, argument by argument. A change here changes what a sandbox
    /// can reach: update the expected list only together with the security review of the change.
    /// </summary>
    [Fact]
    public void Build_DefaultOptions_MatchesTheGoldenArgv()
    {
        var (fileName, arguments) = Build();

        string[] expected =
        [
            "-c", "filter=$1; shift; while [ \"$1\" != \"--\" ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; exec \"$@\" 9<\"$filter\" ", "vivarium-sandbox",
            "/nonexistent/vivarium/runtime/seccomp.bpf",
            .. CgroupJoinFiles, "--",
            "/usr/bin/setsid", "/usr/bin/setpriv", "--reuid=200007", "--regid=200007", "--clear-groups", "--",
            "/usr/bin/bwrap",
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--seccomp", "9", "--uid", "1000", "--gid", "1000", "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            .. OptionalBinds(),
            "--ro-bind", "/nonexistent/vivarium/runtime/passwd", "/etc/passwd",
            "--ro-bind", "/nonexistent/vivarium/runtime/group", "/etc/group",
            "--proc", "/proc", "--dev", "/dev",
            "--size", "536870912", "--tmpfs", "/tmp",
            "--size", "67108864", "--tmpfs", "/dev/shm",
            "--dir", "/tmp/matplotlib",
            "--bind", "/var/lib/vivarium/workspaces/ws_1", "/home/user",
            "--ro-bind", "/nonexistent/vivarium/runtime/vivarium_runner.py", "/opt/vivarium/vivarium_runner.py",
            "--chdir", "/home/user",
            "--clearenv",
            "--setenv", "HOME", "/home/user",
            "--setenv", "IPYTHONDIR", "/tmp/.ipython",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "MKL_NUM_THREADS", "1",
            "--setenv", "MPLBACKEND", "module://matplotlib_inline.backend_inline",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
            "--setenv", "OMP_NUM_THREADS", "1",
            "--setenv", "OPENBLAS_NUM_THREADS", "1",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--setenv", "XDG_CACHE_HOME", "/tmp/.cache",
            "--", "/usr/bin/python3", "-s", "/opt/vivarium/vivarium_runner.py",
        ];

        Assert.Equal("/bin/sh", fileName);
        Assert.Equal(expected, arguments.Take(arguments.Count - 1));
        using var config = JsonDocument.Parse(arguments[^1]);
        Assert.Equal(64, config.RootElement.GetProperty("max_processes").GetInt32());
        Assert.Equal(0, config.RootElement.GetProperty("rlimits").GetProperty("core_bytes").GetInt64());
    }

    [Fact]
    public void Build_KeyIsolationFlags_ArePresentAndInTheRightPlace()
    {
        var (_, arguments) = Build();
        var args = arguments.ToList();
        int bwrap = args.IndexOf("/usr/bin/bwrap");
        int separator = args.LastIndexOf("--");
        var bwrapArgs = args[bwrap..separator];

        foreach (var flag in new[] { "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--disable-userns" })
        {
            Assert.Contains(flag, bwrapArgs);
        }
        Assert.Equal("ALL", bwrapArgs[bwrapArgs.IndexOf("--cap-drop") + 1]);
        Assert.DoesNotContain("--share-net", args);
        Assert.DoesNotContain(args, a => a.StartsWith("--bind-try", StringComparison.Ordinal) || a == "--dev-bind");
        // Exactly one writable bind: the workspace, at /home/user.
        var writable = Enumerable.Range(0, bwrapArgs.Count).Where(i => bwrapArgs[i] == "--bind").ToList();
        var bind = Assert.Single(writable);
        Assert.Equal(("/var/lib/vivarium/workspaces/ws_1", "/home/user"), (bwrapArgs[bind + 1], bwrapArgs[bind + 2]));
        // Privileges are dropped to the workspace's own host uid before bwrap runs.
        int setpriv = args.IndexOf("/usr/bin/setpriv");
        Assert.True(setpriv >= 0 && setpriv < bwrap);
        Assert.Contains("--reuid=200007", args[setpriv..bwrap]);
        Assert.Contains("--regid=200007", args[setpriv..bwrap]);
        Assert.Contains("--clear-groups", args[setpriv..bwrap]);
        // The environment is set after it was cleared, never before.
        Assert.True(bwrapArgs.IndexOf("--clearenv") < bwrapArgs.IndexOf("--setenv"));
        // The seccomp filter is opened (as fd 9) and the cgroups joined before any of that runs.
        Assert.Equal("/nonexistent/vivarium/runtime/seccomp.bpf", args[3]);
        Assert.Equal("9", bwrapArgs[bwrapArgs.IndexOf("--seccomp") + 1]);
        Assert.Equal(CgroupJoinFiles, args[4..7]);
    }

    [Fact]
    public void Build_PassThroughVariable_IsTheOnlyAddition()
    {
        var (_, plain) = Build();
        var (_, withBlas) = Build(new Dictionary<string, string> { ["OPENBLAS_CORETYPE"] = "Haswell" });

        var added = withBlas.Except(plain).ToList();

        Assert.Equal(["OPENBLAS_CORETYPE", "Haswell"], added);
    }

    [Fact]
    public void SandboxEnvironment_IsAnAllowListWithoutTheServersVariables()
    {
        Environment.SetEnvironmentVariable("VIVARIUM_UNIT_CANARY", "leak");
        try
        {
            var env = BubblewrapCommand.SandboxEnvironment(new Dictionary<string, string>()).ToDictionary();

            Assert.DoesNotContain("VIVARIUM_UNIT_CANARY", env.Keys);
            Assert.Equal("/home/user", env["HOME"]);
            Assert.DoesNotContain("pyenv", env["PATH"], StringComparison.Ordinal);
            Assert.Equal(11, env.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable("VIVARIUM_UNIT_CANARY", null);
        }
    }
}
