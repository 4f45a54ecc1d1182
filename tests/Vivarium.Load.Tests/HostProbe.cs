using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Vivarium.Load.Tests;

/// <summary>What one sandbox is on the host: its cgroup and the processes in it.</summary>
/// <param name="Cgroup">The sandbox cgroup's name (<c>sbx_…</c>) under the instance's parent.</param>
/// <param name="Pids">Every process in it (bwrap, python and anything they started).</param>
public sealed record SandboxOnHost(string Cgroup, IReadOnlyList<int> Pids);

/// <summary>
/// Looks at the host the way an operator would, to find a session's sandbox (to kill it) and
/// to check that nothing of a server's outlives what it belonged to: processes whose command
/// line names the state directory's workspaces, cgroups under <c>vivarium-&lt;instance&gt;</c>,
/// loop mounts under the state directory, and workspace directories.
/// </summary>
public sealed class HostProbe(string stateDirectory)
{
    private const string CgroupRoot = "/sys/fs/cgroup";
    private static readonly string[] V1Controllers = ["memory", "pids", "cpu"];

    /// <summary>The server's state directory.</summary>
    public string StateDirectory { get; } = Path.GetFullPath(stateDirectory);

    /// <summary>Where the workspaces live.</summary>
    public string WorkspacesDirectory => Path.Combine(StateDirectory, "workspaces");

    /// <summary>The server names its parent cgroup after a hash of the state directory, so ours is never another server's.</summary>
    public string InstanceName { get; } =
        "vivarium-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(stateDirectory))))[..12];

    /// <summary>The instance's parent cgroup directories that exist (v1 controllers and v2).</summary>
    public IReadOnlyList<string> InstanceCgroupDirectories() =>
        [.. V1Controllers.Select(c => Path.Combine(CgroupRoot, c, InstanceName)).Append(Path.Combine(CgroupRoot, InstanceName)).Where(Directory.Exists)];

    /// <summary>Names of the sandbox cgroups under the instance, in any controller.</summary>
    public IReadOnlySet<string> SandboxCgroups() =>
        InstanceCgroupDirectories()
            .SelectMany(parent => SafeEnumerateDirectories(parent).Select(Path.GetFileName))
            .Where(name => name is not null && name.StartsWith("sbx_", StringComparison.Ordinal))
            .Select(name => name!)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Processes of this instance's sandboxes, in either sandbox mode. Without a workspace: every
    /// process in one of its sandbox cgroups, and every process whose command line names the state
    /// directory (bwrap binds workspaces from it; the fork server's zygote and its forks run a
    /// script kept there; the server's own argument names it without a trailing '/'). With one:
    /// the processes that have that workspace's volume mounted as their home (or, once it is
    /// unmounted, whose command line names it).
    /// </summary>
    public IReadOnlyList<int> SandboxProcesses(string? workspace = null)
    {
        if (workspace is not null)
        {
            // Once the host has unmounted the workspace (the session ended), bwrap's command line,
            // which names it, still finds a straggler; a fork server's is then left to the cgroup checks.
            return DeviceMountedAt(workspace, "/proc/self/mountinfo") is { } device
                ? [.. AllPids().Where(pid => DeviceMountedAt("/home/user", $"/proc/{pid}/mountinfo") == device)]
                : [.. AllPids().Where(pid => ReadOrNull($"/proc/{pid}/cmdline") is { } cmdline && cmdline.Contains(workspace + "\0", StringComparison.Ordinal))];
        }
        var needle = StateDirectory + "/";
        return [.. AllPids().Where(pid => PidsCgroupOf(pid) is not null
            || (ReadOrNull($"/proc/{pid}/cmdline") is { } cmdline && cmdline.Contains(needle, StringComparison.Ordinal)))];
    }

    /// <summary>The device ("major:minor") mounted at a mount point in a mount table, or null.</summary>
    private static string? DeviceMountedAt(string mountPoint, string mountinfo)
    {
        // "36 35 7:3 / /home/user rw,nosuid … - ext4 /dev/loop3 rw": the device is the third
        // field, the mount point the fifth (spaces escaped as \040). The last mount there wins.
        string? device = null;
        foreach (var line in (ReadOrNull(mountinfo) ?? "").Split('\n'))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[4].Replace("\\040", " ", StringComparison.Ordinal) == mountPoint)
            {
                device = fields[2];
            }
        }
        return device;
    }

    /// <summary>Mount points under the state directory (each workspace is a loop-mounted ext4 volume).</summary>
    public IReadOnlyList<string> Mounts() =>
        [.. File.ReadLines("/proc/self/mounts")
            .Select(line => line.Split(' '))
            .Where(fields => fields.Length > 1)
            .Select(fields => fields[1].Replace("\\040", " ", StringComparison.Ordinal))
            .Where(mount => mount.StartsWith(StateDirectory + "/", StringComparison.Ordinal))];

    /// <summary>Workspace directories on disk.</summary>
    public IReadOnlyList<string> Workspaces() =>
        Directory.Exists(WorkspacesDirectory) ? [.. SafeEnumerateDirectories(WorkspacesDirectory)] : [];

    /// <summary>The workspace holding a marker file with this content (a session writes its own id there first).</summary>
    public string? FindWorkspace(string markerFile, string content)
    {
        foreach (var workspace in Workspaces())
        {
            if (ReadOrNull(Path.Combine(workspace, markerFile)) == content)
            {
                return workspace;
            }
        }
        return null;
    }

    /// <summary>True when the workspace holds the marker file (it belongs to a session, not to the pool).</summary>
    public static bool HasMarker(string workspace, string markerFile) => File.Exists(Path.Combine(workspace, markerFile));

    /// <summary>The sandbox running on a workspace now, found through its processes' cgroup; null when none runs.</summary>
    public SandboxOnHost? SandboxOn(string workspace)
    {
        foreach (var pid in SandboxProcesses(workspace))
        {
            var cgroup = PidsCgroupOf(pid);
            if (cgroup is null)
            {
                continue;
            }
            var procs = Path.Combine(CgroupRoot, "pids", InstanceName, cgroup, "cgroup.procs");
            if (!File.Exists(procs))
            {
                procs = Path.Combine(CgroupRoot, InstanceName, cgroup, "cgroup.procs"); // v2
            }
            var members = (ReadOrNull(procs) ?? "")
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => int.Parse(line, CultureInfo.InvariantCulture))
                .ToList();
            return new SandboxOnHost(cgroup, members.Count > 0 ? members : [pid]);
        }
        return null;
    }

    /// <summary>SIGKILLs every process of the sandbox on a workspace, as the OOM killer or an operator would.</summary>
    /// <returns>What was killed, or null when no sandbox ran there.</returns>
    public SandboxOnHost? KillSandbox(string workspace)
    {
        var sandbox = SandboxOn(workspace);
        if (sandbox is null)
        {
            return null;
        }
        foreach (var pid in sandbox.Pids)
        {
            ServerProcess.Kill(pid, ServerProcess.SigKill); // ESRCH when it already went: fine
        }
        return sandbox;
    }

    /// <summary>True while any process of the list is still alive (zombies count as gone: they hold nothing).</summary>
    public static bool AnyAlive(IEnumerable<int> pids) =>
        pids.Any(pid => ReadOrNull($"/proc/{pid}/stat") is { } stat && !IsZombie(stat));

    /// <summary>Everything of this instance on the host right now, for a leak report.</summary>
    public HostSnapshot Snapshot() => new(SandboxProcesses(), SandboxCgroups(), Mounts(), Workspaces(), InstanceCgroupDirectories());

    private string? PidsCgroupOf(int pid)
    {
        foreach (var line in (ReadOrNull($"/proc/{pid}/cgroup") ?? "").Split('\n'))
        {
            // v1: "8:pids:/vivarium-…/sbx_…"; v2: "0::/vivarium-…/sbx_…"
            var parts = line.Split(':', 3);
            if (parts.Length == 3 && (parts[1] == "pids" || (parts[0] == "0" && parts[1].Length == 0)))
            {
                var path = parts[2].Trim('/').Split('/');
                if (path.Length == 2 && path[0] == InstanceName && path[1].StartsWith("sbx_", StringComparison.Ordinal))
                {
                    return path[1];
                }
            }
        }
        return null;
    }

    private static bool IsZombie(string stat)
    {
        // "pid (comm) S …": the state follows the last ')', as comm may hold anything.
        int close = stat.LastIndexOf(')');
        return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'Z' or 'X';
    }

    private static IEnumerable<int> AllPids()
    {
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out int pid))
            {
                yield return pid;
            }
        }
    }

    private static List<string> SafeEnumerateDirectories(string path)
    {
        try
        {
            return Directory.EnumerateDirectories(path).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>What an instance holds on the host at one moment.</summary>
public sealed record HostSnapshot(
    IReadOnlyList<int> Processes,
    IReadOnlySet<string> Cgroups,
    IReadOnlyList<string> Mounts,
    IReadOnlyList<string> Workspaces,
    IReadOnlyList<string> ParentCgroups)
{
    /// <summary>True when nothing at all is left (after the server has stopped).</summary>
    public bool IsEmpty => Processes.Count == 0 && Cgroups.Count == 0 && Mounts.Count == 0 && Workspaces.Count == 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"{Processes.Count} sandbox processes [{string.Join(", ", Processes.Take(8))}], {Cgroups.Count} cgroups [{string.Join(", ", Cgroups.Take(4))}], " +
        $"{Mounts.Count} mounts [{string.Join(", ", Mounts.Take(4))}], {Workspaces.Count} workspaces [{string.Join(", ", Workspaces.Take(4).Select(Path.GetFileName))}], " +
        $"parent cgroups [{string.Join(", ", ParentCgroups)}]";
}
