using System.Diagnostics;
using System.Globalization;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Which cgroup interface the host offers. Detected, never assumed: these machines have the v1
/// controllers (memory, pids, cpu) and a v2 hierarchy without any; a modern host delegates v2.
/// </summary>
public enum CgroupMode
{
    /// <summary>No usable controllers: limits cannot be enforced.</summary>
    None,
    /// <summary>Separate v1 hierarchies for memory, pids and cpu.</summary>
    V1,
    /// <summary>The unified v2 hierarchy with memory, pids and cpu enabled.</summary>
    V2,
}

/// <summary>Creates one cgroup per sandbox under a parent named for this server instance.</summary>
internal sealed class CgroupHierarchy
{
    private const string Root = "/sys/fs/cgroup";
    private static readonly string[] V1Controllers = ["memory", "pids", "cpu"];
    private readonly string _instance;

    private CgroupHierarchy(CgroupMode mode, string instance)
    {
        Mode = mode;
        _instance = instance;
    }

    public CgroupMode Mode { get; }

    /// <summary>Finds what the host offers; <paramref name="instance"/> names this server's parent cgroup.</summary>
    public static CgroupHierarchy Detect(string instance) => new(DetectMode(), instance);

    public static CgroupMode DetectMode()
    {
        var controllers = Path.Combine(Root, "cgroup.controllers");
        if (File.Exists(controllers))
        {
            var available = File.ReadAllText(controllers).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (V1Controllers.All(available.Contains))
            {
                return CgroupMode.V2;
            }
        }
        return V1Controllers.All(c => File.Exists(Path.Combine(Root, c, "tasks"))) ? CgroupMode.V1 : CgroupMode.None;
    }

    /// <summary>Creates the instance's parent cgroups (v2: enables the controllers for children).</summary>
    public void Initialize()
    {
        switch (Mode)
        {
            case CgroupMode.V1:
                foreach (var controller in V1Controllers)
                {
                    Directory.CreateDirectory(Path.Combine(Root, controller, _instance));
                }
                break;
            case CgroupMode.V2:
                var parent = Path.Combine(Root, _instance);
                Directory.CreateDirectory(parent);
                File.WriteAllText(Path.Combine(parent, "cgroup.subtree_control"), "+memory +pids +cpu");
                break;
        }
    }

    /// <summary>Creates a sandbox's cgroup with its limits.</summary>
    public SandboxCgroup Create(string sandboxId, long memoryBytes, int maxProcesses, double cpuCores)
    {
        var quota = ((long)(cpuCores * 100_000)).ToString(CultureInfo.InvariantCulture);
        var memory = memoryBytes.ToString(CultureInfo.InvariantCulture);
        var pids = maxProcesses.ToString(CultureInfo.InvariantCulture);
        switch (Mode)
        {
            case CgroupMode.V1:
            {
                var dirs = V1Controllers.ToDictionary(c => c, c => Path.Combine(Root, c, _instance, sandboxId));
                foreach (var dir in dirs.Values)
                {
                    Directory.CreateDirectory(dir);
                }
                File.WriteAllText(Path.Combine(dirs["memory"], "memory.limit_in_bytes"), memory);
                File.WriteAllText(Path.Combine(dirs["pids"], "pids.max"), pids);
                File.WriteAllText(Path.Combine(dirs["cpu"], "cpu.cfs_period_us"), "100000");
                File.WriteAllText(Path.Combine(dirs["cpu"], "cpu.cfs_quota_us"), quota);
                return new SandboxCgroup(Mode, [.. dirs.Values]);
            }
            case CgroupMode.V2:
            {
                var dir = Path.Combine(Root, _instance, sandboxId);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "memory.max"), memory);
                File.WriteAllText(Path.Combine(dir, "memory.swap.max"), "0");
                File.WriteAllText(Path.Combine(dir, "pids.max"), pids);
                File.WriteAllText(Path.Combine(dir, "cpu.max"), $"{quota} 100000");
                return new SandboxCgroup(Mode, [dir]);
            }
            default:
                return new SandboxCgroup(Mode, []);
        }
    }

    /// <summary>The instance's parent cgroup directories (existing or not).</summary>
    public static IReadOnlyList<string> InstanceDirectories(string instance) =>
        [.. V1Controllers.Select(c => Path.Combine(Root, c, instance)), Path.Combine(Root, instance)];

    /// <summary>
    /// Removes the instance's parent cgroups once its sandboxes are gone. Without this, a server
    /// started on a fresh state directory (every test run, every CLI run) leaves three empty
    /// cgroups behind, which no later start would sweep.
    /// </summary>
    public void RemoveInstance()
    {
        SweepOrphans();
        foreach (var directory in InstanceDirectories(_instance).Where(Directory.Exists))
        {
            try
            {
                Directory.Delete(directory); // rmdir: refused while tasks or children remain
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Kills and removes every sandbox cgroup left under this instance by an earlier run.</summary>
    public int SweepOrphans()
    {
        var parents = InstanceDirectories(_instance);
        var names = parents.Where(Directory.Exists)
            .SelectMany(p => Directory.EnumerateDirectories(p).Select(Path.GetFileName))
            .Distinct()
            .ToList();
        foreach (var name in names)
        {
            var dirs = parents.Select(p => Path.Combine(p, name!)).Where(Directory.Exists).ToList();
            new SandboxCgroup(Mode, dirs).KillAllAndRemove();
        }
        return names.Count;
    }
}

/// <summary>The cgroup(s) of one sandbox.</summary>
internal sealed class SandboxCgroup(CgroupMode mode, IReadOnlyList<string> directories)
{
    /// <summary>Files a process writes its pid into to join (the start-up wrapper does this before exec).</summary>
    public IReadOnlyList<string> JoinFiles { get; } =
        directories.Select(d => Path.Combine(d, mode == CgroupMode.V1 ? "tasks" : "cgroup.procs")).ToList();

    private string? Dir(string controller) => mode switch
    {
        CgroupMode.V1 => directories.FirstOrDefault(d => d.Contains($"/{controller}/", StringComparison.Ordinal)),
        CgroupMode.V2 => directories.Count > 0 ? directories[0] : null,
        _ => null,
    };

    /// <summary>Memory charged now.</summary>
    public long? MemoryBytes => ReadLong("memory", mode == CgroupMode.V1 ? "memory.usage_in_bytes" : "memory.current");

    /// <summary>Processes and threads alive.</summary>
    public int? Processes => (int?)ReadLong("pids", "pids.current");

    // The kernel's OOM record lives in the cgroup, so it must be taken before the cgroup goes,
    // and a sandbox's end is torn down by two parties at once (the channel watcher's kill and
    // the exit monitor). Reads and the removal are serialised and the record only ever turns
    // true: otherwise a read that began before the other party's removal and finished after it
    // found no file, answered "no OOM", and overwrote the record the remover had just taken
    // (the fork-server misclassification, docs/performance.md).
    private readonly Lock _oomRecordGate = new();
    private bool _oomKilled;
    private bool _removed;

    /// <summary>True when the kernel's OOM killer has killed something in this cgroup; after removal, what was recorded just before it.</summary>
    public bool OomKilled
    {
        get
        {
            lock (_oomRecordGate)
            {
                if (!_oomKilled && !_removed)
                {
                    _oomKilled = ReadOomKilled();
                }
                return _oomKilled;
            }
        }
    }

    private bool ReadOomKilled()
    {
        var file = mode == CgroupMode.V1 ? "memory.oom_control" : "memory.events";
        var dir = Dir("memory");
        try
        {
            if (dir is null || !File.Exists(Path.Combine(dir, file)))
            {
                return false;
            }
            foreach (var line in File.ReadAllLines(Path.Combine(dir, file)))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == "oom_kill" && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long count))
                {
                    return count > 0;
                }
            }
        }
        catch (IOException)
        {
            // Removed between the check and the read.
        }
        return false;
    }

    /// <summary>
    /// SIGKILLs every process in the cgroup until none is left, then removes it. Returns whether
    /// the OOM killer killed anything in it, read once the last process died (the kernel counts
    /// an OOM kill before it sends the signal) and before the record goes with the cgroup. Safe
    /// to call from several threads: every caller gets the same answer.
    /// </summary>
    public bool KillAllAndRemove()
    {
        if (mode == CgroupMode.V2 && directories.Count > 0 && File.Exists(Path.Combine(directories[0], "cgroup.kill")))
        {
            TryWrite(Path.Combine(directories[0], "cgroup.kill"), "1");
        }
        var procs = Dir("pids") is { } pidsDir ? Path.Combine(pidsDir, "cgroup.procs") : null;
        // A process may fork while we kill; pids.max bounds how long that can go on.
        for (int round = 0; procs is not null && round < 200; round++)
        {
            var pids = ReadPids(procs);
            if (pids.Count == 0)
            {
                break;
            }
            foreach (var pid in pids)
            {
                KillProcess(pid);
            }
            Thread.Sleep(round < 10 ? 1 : 10);
        }
        lock (_oomRecordGate)
        {
            if (!_oomKilled && !_removed)
            {
                _oomKilled = ReadOomKilled();
            }
            foreach (var dir in directories)
            {
                for (int attempt = 0; attempt < 100 && Directory.Exists(dir); attempt++)
                {
                    try
                    {
                        Directory.Delete(dir);
                    }
                    catch (IOException)
                    {
                        Thread.Sleep(5); // EBUSY until the last task is gone
                    }
                }
            }
            // Left in place (still busy), the record stays readable for a later call.
            _removed = Dir("memory") is not { } memory || !Directory.Exists(memory);
            return _oomKilled;
        }
    }

    private static List<int> ReadPids(string file)
    {
        try
        {
            return File.ReadAllLines(file).Select(l => int.TryParse(l, CultureInfo.InvariantCulture, out int pid) ? pid : 0).Where(p => p > 0).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static void KillProcess(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private long? ReadLong(string controller, string file)
    {
        var dir = Dir(controller);
        try
        {
            return dir is not null && long.TryParse(File.ReadAllText(Path.Combine(dir, file)).Trim(), CultureInfo.InvariantCulture, out long value) ? value : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void TryWrite(string file, string text)
    {
        try
        {
            File.WriteAllText(file, text);
        }
        catch (IOException)
        {
        }
    }
}
