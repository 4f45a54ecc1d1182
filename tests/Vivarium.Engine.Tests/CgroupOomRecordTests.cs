using System.Diagnostics;
using Vivarium.Sandbox;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Engine.Tests;

/// <summary>
/// The OOM verdict of a real cgroup whose only process the kernel's OOM killer killed, while
/// the two parties that end a sandbox (the channel watcher's kill and the exit monitor) tear the
/// cgroup down at the same time, as they do after every memory bomb.
/// </summary>
public sealed class CgroupOomRecordTests : IDisposable
{
    private const long LimitBytes = 64L * 1024 * 1024;
    private readonly CgroupHierarchy _hierarchy = CgroupHierarchy.Detect("vivarium-oom-record-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public CgroupOomRecordTests() => _hierarchy.Initialize();

    [Fact]
    public async Task Conclude_RacingAKillThatRemovesTheCgroup_IsStillOutOfMemory()
    {
        // Several at once: the race was between two threads, and shows only now and then.
        var sandboxes = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => OomKilledCgroupAsync()));

        var exits = await Task.WhenAll(sandboxes.Select(async s =>
        {
            var recorder = new SandboxExitRecorder(s.Cgroup);
            recorder.RecordKill(SandboxExitReason.RunnerExited);
            var teardown = recorder.TearDownAsync();
            var exit = await recorder.ConcludeAsync(s.ExitCode);
            await teardown;
            return exit;
        }));

        Assert.All(exits, exit => Assert.Equal(SandboxExitReason.OutOfMemory, exit.Reason));
        Assert.All(sandboxes, s => Assert.DoesNotContain(s.Cgroup.JoinFiles, f => Directory.Exists(Path.GetDirectoryName(f))));
    }

    [Fact]
    public async Task OomKilled_AfterAnotherCallerRemovedTheCgroup_KeepsTheRecord()
    {
        var (cgroup, _) = await OomKilledCgroupAsync();

        Assert.True(cgroup.KillAllAndRemove());

        Assert.True(cgroup.OomKilled);
        Assert.True(cgroup.KillAllAndRemove());
    }

    [Fact]
    public async Task KillAllAndRemove_WithoutOom_SaysSo()
    {
        var cgroup = _hierarchy.Create("sbx_" + Guid.NewGuid().ToString("N"), LimitBytes, 16, 1.0);
        using var process = StartInCgroup(cgroup, "import sys; sys.stdin.read()");
        await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)); // it joined the cgroup

        Assert.False(await Task.Run(cgroup.KillAllAndRemove));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(cgroup.OomKilled);
    }

    /// <summary>A cgroup whose one process allocated past the limit and was killed by the kernel.</summary>
    private async Task<(SandboxCgroup Cgroup, int ExitCode)> OomKilledCgroupAsync()
    {
        var cgroup = _hierarchy.Create("sbx_" + Guid.NewGuid().ToString("N"), LimitBytes, 16, 1.0);
        using var process = StartInCgroup(cgroup, "x = bytearray(1024**3)");
        await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)); // it joined the cgroup
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(128 + 9, process.ExitCode);
        return (cgroup, process.ExitCode);
    }

    private static Process StartInCgroup(SandboxCgroup cgroup, string python)
    {
        // The shell joins the cgroup, says so on its stdout (a caller that acted before the
        // join would find the cgroup empty), then becomes Python: only Python's memory is
        // charged there.
        var join = string.Join(" && ", cgroup.JoinFiles.Select(f => $"echo $$ > {f}"));
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"{join} && echo joined && exec /usr/bin/python3 -c \"$0\"");
        start.ArgumentList.Add(python);
        return Process.Start(start)!;
    }

    public void Dispose() => _hierarchy.RemoveInstance();
}
