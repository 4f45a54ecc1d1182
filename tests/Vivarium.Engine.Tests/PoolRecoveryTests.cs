using System.Diagnostics;
using System.Globalization;
using Vivarium.Sandbox.Bubblewrap;

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
        await TestBounds.PollAsync(() => engine.Pool.Available == engine.Pool.TargetSize, "the pool did not fill");
        var workspace = Directory.EnumerateDirectories(Path.Combine(engine.StateDirectory, "workspaces")).First();
        var pids = SandboxPids(workspace);
        Assert.NotEmpty(pids);

        foreach (var pid in pids)
        {
            Process.GetProcessById(pid).Kill(); // SIGKILL, as the OOM killer or an operator would
        }

        // Dropped (its workspace deleted), and the pool is full again with live sandboxes.
        await TestBounds.PollAsync(() => !Directory.Exists(workspace) && engine.Pool.Available == engine.Pool.TargetSize,
            $"the dead warm sandbox was not dropped and replaced (pool_available {engine.Pool.Available}, its workspace {(Directory.Exists(workspace) ? "still there" : "gone")})");
        foreach (var live in Directory.EnumerateDirectories(Path.Combine(engine.StateDirectory, "workspaces")))
        {
            Assert.NotEmpty(SandboxPids(live));
        }
    }

    /// <summary>
    /// Every process of the sandbox running on this workspace: the members of the one sandbox
    /// cgroup, under this engine's own instance, that holds a process of the workspace's host
    /// uid (in either sandbox mode). Only ever a sandbox cgroup: never anything else to kill.
    /// </summary>
    private List<int> SandboxPids(string workspace)
    {
        using var stat = Process.Start(new ProcessStartInfo("/usr/bin/stat", ["-c", "%u", workspace]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        Assert.True(int.TryParse(owner, CultureInfo.InvariantCulture, out int uid) && uid >= 1000, $"workspace owner '{owner}'");
        var instances = BubblewrapBackend.InstanceCgroupDirectories(engine.StateDirectory);
        var instance = instances.FirstOrDefault(d => d.Contains("/pids/", StringComparison.Ordinal) && Directory.Exists(d)) ?? instances[^1];
        foreach (var sandbox in Directory.EnumerateDirectories(instance, "sbx_*"))
        {
            try
            {
                var pids = File.ReadAllLines(Path.Combine(sandbox, "cgroup.procs")).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
                if (pids.Any(pid => HostUid(pid) == owner))
                {
                    return pids;
                }
            }
            catch (IOException)
            {
            }
        }
        return [];
    }

    private static string? HostUid(int pid)
    {
        try
        {
            return File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
