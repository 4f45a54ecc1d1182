using System.Diagnostics;
using System.Globalization;

namespace Vivarium.Engine.Tests;

/// <summary>The warm pool notices a sandbox that dies while it waits, without a client taking it.</summary>
[Collection("Engine")]
public sealed class PoolRecoveryTests(EngineFixture engine)
{
    [Fact]
    public async Task WarmSandboxKilledWhileWaiting_IsDroppedAndReplaced()
    {
        // Tests of this collection run one at a time and end their sessions: every workspace
        // on disk belongs to the pool once it is full.
        await PollAsync(() => engine.Pool.Available == engine.Pool.TargetSize, "the pool did not fill");
        var workspace = Directory.EnumerateDirectories(Path.Combine(engine.StateDirectory, "workspaces")).First();
        var pids = SandboxPids(workspace);
        Assert.NotEmpty(pids);

        foreach (var pid in pids)
        {
            Process.GetProcessById(pid).Kill(); // SIGKILL, as the OOM killer or an operator would
        }

        // Dropped (its workspace deleted), and the pool is full again with live sandboxes.
        await PollAsync(() => !Directory.Exists(workspace) && engine.Pool.Available == engine.Pool.TargetSize,
            $"the dead warm sandbox was not dropped and replaced (pool_available {engine.Pool.Available}, its workspace {(Directory.Exists(workspace) ? "still there" : "gone")})");
        foreach (var live in Directory.EnumerateDirectories(Path.Combine(engine.StateDirectory, "workspaces")))
        {
            Assert.NotEmpty(SandboxPids(live));
        }
    }

    /// <summary>Every process in the cgroup of the sandbox whose bwrap binds this workspace.</summary>
    private static List<int> SandboxPids(string workspace)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            try
            {
                if (!File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(workspace + "\0", StringComparison.Ordinal))
                {
                    continue;
                }
                var cgroup = File.ReadAllLines(Path.Combine(dir, "cgroup")).Select(l => l.Split(':', 3)).First(p => p[1] == "pids" || p[1].Length == 0)[2];
                var procs = File.Exists($"/sys/fs/cgroup/pids{cgroup}/cgroup.procs") ? $"/sys/fs/cgroup/pids{cgroup}/cgroup.procs" : $"/sys/fs/cgroup{cgroup}/cgroup.procs";
                return File.ReadAllLines(procs).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
            }
            catch (IOException)
            {
            }
        }
        return [];
    }

    private static async Task PollAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}
