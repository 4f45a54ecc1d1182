using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Engine.Tests;

/// <summary>What a backend does when it starts over a state directory a crashed server left behind.</summary>
[Collection("Engine")]
public sealed class BackendStartupTests
{
    private static readonly string[] Controllers = ["memory", "pids", "cpu"];

    [Fact]
    public async Task InitializeAsync_LeftoversOfACrashedRun_AreRemoved()
    {
        var state = Path.Combine("/tmp", "vivarium-startup-test-" + Guid.NewGuid().ToString("N")[..8]);
        var leftoverWorkspace = Path.Combine(state, "workspaces", "ws_leftover");
        Directory.CreateDirectory(Path.Combine(leftoverWorkspace, "deep", "deeper"));
        await File.WriteAllTextAsync(Path.Combine(leftoverWorkspace, "deep", "deeper", "data.csv"), "a,b\n");
        var instance = BubblewrapBackend.InstanceName(Path.GetFullPath(state));
        var cgroups = Controllers.Select(c => Path.Combine("/sys/fs/cgroup", c, instance, "sbx_leftover")).ToList();
        // A process still inside the leftover cgroup, as after a server crash with --die-with-parent defeated.
        using var orphan = Process.Start(new ProcessStartInfo("/bin/sleep", ["300"]) { UseShellExecute = false })!;
        try
        {
            foreach (var cgroup in cgroups)
            {
                Directory.CreateDirectory(cgroup);
                await File.WriteAllTextAsync(Path.Combine(cgroup, "tasks"), orphan.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            var backend = new BubblewrapBackend(Options.Create(new BubblewrapOptions { StateDirectory = state }), NullLogger<BubblewrapBackend>.Instance);

            await backend.InitializeAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.False(Directory.Exists(leftoverWorkspace), "the leftover workspace is still there");
            Assert.True(Directory.Exists(Path.Combine(state, "workspaces")));
            Assert.All(cgroups, c => Assert.False(Directory.Exists(c), $"{c} is still there"));
            Assert.True(orphan.WaitForExit(TimeSpan.FromSeconds(5)), "the process in the leftover cgroup is still alive");

            // A clean shutdown leaves no empty parent cgroup behind either.
            Assert.True(Directory.Exists(Path.Combine("/sys/fs/cgroup/memory", instance)));
            backend.Dispose();
            Assert.All(Controllers, c => Assert.False(Directory.Exists(Path.Combine("/sys/fs/cgroup", c, instance)), $"the {c} parent is still there"));
        }
        finally
        {
            if (!orphan.HasExited)
            {
                orphan.Kill();
            }
            foreach (var dir in cgroups.Concat(Controllers.Select(c => Path.Combine("/sys/fs/cgroup", c, instance))))
            {
                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException)
                {
                }
            }
            Directory.Delete(state, recursive: true);
        }
    }
}
