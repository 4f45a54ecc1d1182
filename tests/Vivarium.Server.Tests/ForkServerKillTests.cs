using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Server.Tests;

/// <summary>SIGKILL to a real server in fork-server mode: its zygote and every sandbox process die with it.</summary>
public sealed class ForkServerKillTests
{
    [Fact]
    public async Task ServerKilled_ZygoteAndEverySandboxProcessDie()
    {
        await using var server = ServerProcess.Start("fskill", "--Vivarium:Sandbox:Mode=fork-server");
        var state = server.StateDirectory;
        try
        {
            using var client = server.NewClient();
            await server.WaitUntilReadyAsync(client);
            var id = await client.CreateSessionAsync();
            // A plain background process and a double-forked daemon, which leaves the runner's tree.
            var result = await client.ExecuteAsync(id, """
                import os, subprocess
                subprocess.Popen(['sleep', '300'])
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        os.execv('/usr/bin/sleep', ['sleep', '301'])
                    os._exit(0)
                os.wait()
                print('started')
                """);
            Assert.Equal("ok", result.GetProperty("status").GetString());
            var zygotes = ProcessesNaming(Path.Combine(state, "runtime", "vivarium_zygote.py")).Where(p => ParentOf(p) == server.Process.Id).ToList();
            var sandboxes = SandboxCgroupMembers(state);
            Assert.Single(zygotes);
            // Per sandbox: the outer process, pid 1, the runner; here also sleep 300 and sleep 301.
            Assert.True(sandboxes.Count >= 5, $"sandbox processes: {sandboxes.Count}");

            server.Process.Kill(); // SIGKILL, the server only: no shutdown code runs

            var everyone = zygotes.Concat(sandboxes).ToList();
            await WaitUntilAsync(() => Task.FromResult(everyone.All(IsGone)),
                $"still alive after the server died: {string.Join(", ", everyone.Where(p => !IsGone(p)))}");
        }
        finally
        {
            if (!server.Process.HasExited)
            {
                server.Process.Kill(entireProcessTree: true);
            }
            // The killed server left its workspace volumes and cgroups: a backend's start sweeps them.
            using (var sweeper = new BubblewrapBackend(Options.Create(new BubblewrapOptions { StateDirectory = state }), NullLogger<BubblewrapBackend>.Instance))
            {
                await sweeper.InitializeAsync(CancellationToken.None);
            }
        }
    }

    private static List<int> SandboxCgroupMembers(string state)
    {
        var pids = new List<int>();
        foreach (var instance in BubblewrapBackend.InstanceCgroupDirectories(state).Where(d => d.Contains("/pids/", StringComparison.Ordinal) && Directory.Exists(d)))
        {
            foreach (var sandbox in Directory.EnumerateDirectories(instance, "sbx_*"))
            {
                pids.AddRange(File.ReadAllLines(Path.Combine(sandbox, "cgroup.procs")).Select(l => int.Parse(l, CultureInfo.InvariantCulture)));
            }
        }
        return pids;
    }

    private static List<int> ProcessesNaming(string text) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out int pid) ? pid : 0)
            .Where(pid => pid > 0 && Read($"/proc/{pid}/cmdline").Contains(text, StringComparison.Ordinal))
            .ToList();

    private static int ParentOf(int pid) =>
        int.TryParse(Read($"/proc/{pid}/stat").Split(')').Last().Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1), CultureInfo.InvariantCulture, out int ppid) ? ppid : 0;

    // A zombie is dead: it only waits for its new parent to reap it.
    private static bool IsGone(int pid) =>
        Read($"/proc/{pid}/stat").Split(')').Last().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() is null or "Z" or "X";

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}
