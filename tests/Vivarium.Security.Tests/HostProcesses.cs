using System.Globalization;

namespace Vivarium.Security.Tests;

/// <summary>A process on the host, as /proc shows it to root.</summary>
public sealed record HostProcess(int Pid, int Uid, string CommandLine);

/// <summary>Looks at the host's processes, from outside every sandbox.</summary>
public static class HostProcesses
{
    /// <summary>Every process on the host with its real uid and command line.</summary>
    public static IReadOnlyList<HostProcess> All()
    {
        var processes = new List<HostProcess>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            try
            {
                var uidLine = File.ReadLines(Path.Combine(dir, "status")).FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                if (uidLine is null)
                {
                    continue;
                }
                int uid = int.Parse(uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                processes.Add(new HostProcess(pid, uid, cmdline));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }
        return processes;
    }

    /// <summary>Processes running as <paramref name="uid"/> or naming <paramref name="path"/> on their command line.</summary>
    public static IReadOnlyList<HostProcess> OwnedBy(int uid, string? path = null) =>
        All().Where(p => p.Uid == uid || (path is not null && p.CommandLine.Contains(path, StringComparison.Ordinal))).ToList();
}

/// <summary>What the host knows about one session's sandbox.</summary>
/// <param name="WorkspacePath">The workspace's directory on the host (its mount point).</param>
/// <param name="HostUid">The unprivileged host uid its processes run as.</param>
/// <param name="Processes">Its processes, seen from the host.</param>
public sealed record SandboxOnHost(string WorkspacePath, int HostUid, IReadOnlyList<HostProcess> Processes);

/// <summary>Host-side views the cases use as evidence.</summary>
public static partial class HostView
{
    /// <summary>
    /// Finds a session's sandbox from the host: the code plants a file with a random name in the
    /// workspace, the host finds which workspace directory holds it, then which processes were
    /// started on that directory (bubblewrap's command line names it) and with which uid.
    /// </summary>
    public static async Task<SandboxOnHost> LocateAsync(CaseContext context, string sessionId, HttpClient client)
    {
        var marker = "locate-" + HostCanaries.NewToken()[..12];
        var exec = await context.RunAsync($"open('{marker}', 'w').close()", 10, sessionId, client);
        Assert.Equal("ok", exec.Status);
        var workspaces = Path.Combine(context.Fixture.StateDirectory, "workspaces");
        var workspace = Directory.EnumerateDirectories(workspaces).Single(d => File.Exists(Path.Combine(d, marker)));
        File.Delete(Path.Combine(workspace, marker));
        int uid;
        if (SecurityFixture.ForkServer)
        {
            // No command line names the workspace: a forked sandbox was never exec'd. Its
            // processes run as the workspace's owner, which is the uid this server gave it.
            uid = WorkspaceOwner(workspace);
            Assert.True(uid >= 1000 && HostProcesses.All().Any(p => p.Uid == uid), $"no host process runs as {workspace}'s owner ({uid})");
        }
        else
        {
            var bwrap = HostProcesses.All().Where(p => p.CommandLine.Contains(workspace + " /home/user", StringComparison.Ordinal)).ToList();
            Assert.True(bwrap.Count > 0, $"no host process names {workspace}");
            uid = bwrap[0].Uid;
        }
        return new SandboxOnHost(workspace, uid, HostProcesses.OwnedBy(uid, workspace));
    }

    private static int WorkspaceOwner(string workspace)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/stat", ["-c", "%u", workspace]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return int.Parse(owner, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// How many times the pids controller refused a fork in this server's sandboxes (cgroup v1
    /// <c>pids.events</c>, summed over the sandboxes alive now).
    /// </summary>
    public static long PidsMaxEvents(string stateDirectory)
    {
        var instance = "vivarium-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(stateDirectory)))[..12];
        foreach (var parent in new[] { $"/sys/fs/cgroup/pids/{instance}", $"/sys/fs/cgroup/{instance}" })
        {
            if (!Directory.Exists(parent))
            {
                continue;
            }
            long total = 0;
            foreach (var dir in Directory.EnumerateDirectories(parent))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(dir, "pids.events")))
                    {
                        var parts = line.Split(' ');
                        if (parts.Length == 2 && parts[0] == "max")
                        {
                            total += long.Parse(parts[1], CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                }
            }
            return total;
        }
        return -1;
    }

    /// <summary>TCP ports the host listens on at 127.0.0.1 or any address (from /proc/net/tcp).</summary>
    public static IReadOnlyList<int> ListeningLoopbackPorts()
    {
        var ports = new SortedSet<int>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 4 || fields[3] != "0A")
                {
                    continue; // not LISTEN
                }
                var local = fields[1].Split(':');
                var address = local[0];
                bool reachable = address is "0100007F" or "00000000" or "00000000000000000000000000000000" or "00000000000000000000000001000000";
                if (reachable)
                {
                    ports.Add(int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }
        return ports.ToList();
    }

    /// <summary>The limits of the cgroups <paramref name="pid"/> is in: memory bytes, processes, CPU quota in cores.</summary>
    public static (long Memory, long Processes, double Cores) CgroupLimits(int pid)
    {
        long memory = -1, processes = -1;
        double cores = -1;
        foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cgroup"))
        {
            var parts = line.Split(':', 3);
            var controllers = parts[1].Split(',');
            string Read(string controller, string file) => File.ReadAllText($"/sys/fs/cgroup/{controller}{parts[2]}/{file}").Trim();
            if (controllers.Contains("memory"))
            {
                memory = long.Parse(Read("memory", "memory.limit_in_bytes"), CultureInfo.InvariantCulture);
            }
            if (controllers.Contains("pids"))
            {
                var max = Read("pids", "pids.max");
                processes = max == "max" ? long.MaxValue : long.Parse(max, CultureInfo.InvariantCulture);
            }
            if (controllers.Contains("cpu"))
            {
                var quota = long.Parse(Read("cpu", "cpu.cfs_quota_us"), CultureInfo.InvariantCulture);
                var period = long.Parse(Read("cpu", "cpu.cfs_period_us"), CultureInfo.InvariantCulture);
                cores = quota < 0 ? double.PositiveInfinity : (double)quota / period;
            }
            if (parts[1].Length == 0 && Directory.Exists($"/sys/fs/cgroup{parts[2]}") && File.Exists($"/sys/fs/cgroup{parts[2]}/memory.max"))
            {
                var dir = $"/sys/fs/cgroup{parts[2]}";
                var mem = File.ReadAllText($"{dir}/memory.max").Trim();
                memory = mem == "max" ? long.MaxValue : long.Parse(mem, CultureInfo.InvariantCulture);
                var max = File.ReadAllText($"{dir}/pids.max").Trim();
                processes = max == "max" ? long.MaxValue : long.Parse(max, CultureInfo.InvariantCulture);
                var cpu = File.ReadAllText($"{dir}/cpu.max").Trim().Split(' ');
                cores = cpu[0] == "max" ? double.PositiveInfinity : double.Parse(cpu[0], CultureInfo.InvariantCulture) / double.Parse(cpu[1], CultureInfo.InvariantCulture);
            }
        }
        return (memory, processes, cores);
    }

    /// <summary>The host's mount points (as root sees them).</summary>
    public static IReadOnlyList<string> MountPoints() =>
        File.ReadLines("/proc/self/mounts").Select(l => l.Split(' ')).Where(f => f.Length > 1).Select(f => f[1]).ToList();
}
