using System.Globalization;
using Vivarium.Cli.Local;

namespace Vivarium.Cli.Tests;

public sealed class LocalEngineTests
{
    [Fact]
    public async Task Sandboxes_RunInASessionOfTheirOwn_AndLeaveNothingBehind()
    {
        string stateDirectory;
        await using (var engine = await LocalEngine.StartAsync(TimeSpan.FromMinutes(1), TextWriter.Null, CancellationToken.None))
        {
            stateDirectory = engine.StateDirectory;
            Assert.StartsWith("/tmp/vivarium-cli-", stateDirectory, StringComparison.Ordinal);
            await engine.CreateSessionAsync(CancellationToken.None);
            // The backend's parent cgroup exists while the engine runs (so the name the cleanup uses is the real one).
            Assert.Contains(Vivarium.Sandbox.Bubblewrap.BubblewrapBackend.InstanceCgroupDirectories(stateDirectory), Directory.Exists);

            var mine = Stat(Environment.ProcessId);
            // In either sandbox mode: bwrap is this process's child; a fork server's sandboxes are
            // grandchildren, through the zygote. Either way they sit in a sandbox's cgroup.
            var sandboxes = Directory.EnumerateDirectories("/proc")
                .Select(d => int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out int pid) ? pid : 0)
                .Where(pid => pid > 0 && IsSandboxOf(pid, stateDirectory))
                .Select(Stat)
                .Where(s => s is not null)
                .ToList();

            Assert.NotEmpty(sandboxes);
            Assert.All(sandboxes, s => Assert.NotEqual(mine!.SessionId, s!.SessionId));
        }
        Assert.False(Directory.Exists(stateDirectory), "the private state directory is deleted with the engine");
        Assert.All(Vivarium.Sandbox.Bubblewrap.BubblewrapBackend.InstanceCgroupDirectories(stateDirectory), d => Assert.False(Directory.Exists(d), $"{d} is left behind"));
    }

    private sealed record ProcessStat(string Command, int ParentPid, int SessionId);

    private static bool IsSandboxOf(int pid, string stateDirectory)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains(stateDirectory + "/", StringComparison.Ordinal)
                && File.ReadAllText($"/proc/{pid}/cgroup").Contains("/sbx_", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // gone meanwhile
        }
    }

    /// <summary>Fields of /proc/PID/stat: "pid (comm) state ppid pgrp session …".</summary>
    private static ProcessStat? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            int open = text.IndexOf('(', StringComparison.Ordinal), close = text.LastIndexOf(')');
            var fields = text[(close + 2)..].Split(' ');
            return new ProcessStat(text[(open + 1)..close], int.Parse(fields[1], CultureInfo.InvariantCulture), int.Parse(fields[3], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null; // gone meanwhile
        }
    }
}
