using System.Net;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Persistence = "persistence";

    /// <summary>Starts a nohup'd sleeper and a double-forked daemon that ignores SIGTERM and SIGHUP.</summary>
    private const string StartSurvivors = """
        import os, signal, subprocess, time
        subprocess.Popen(['nohup', 'sleep', '600'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                os.closerange(0, 3)
                while True:
                    try:
                        open('/home/user/daemon-alive', 'w').write(str(time.time()))
                    except OSError:
                        pass
                    time.sleep(0.2)
            os._exit(0)
        os.waitpid(child, 0)
        open('planted.txt', 'w').write('still here')
        print('=> started a nohup sleeper and a double-forked daemon; planted a file')
        """;

    private static IEnumerable<SecurityCase> PersistencePastTheSession()
    {
        yield return new SecurityCase(Persistence, "background processes and a double-forked daemon outlive DELETE of the session", "cgroup kill-all + workspace deletion",
            "after DELETE: no host process of the sandbox's uid or naming its workspace; the workspace, its mount and its image are gone", async context =>
            {
                var id = await context.NewSessionAsync(context.Red);
                var started = await context.RunAsync(StartSurvivors, 15, id, context.Red);
                SecurityCase.AssertExec(started, "ok", ["started a nohup sleeper"], []);
                var sandbox = await HostView.LocateAsync(context, id, context.Red);
                // The control: before the delete, the host does see the survivors.
                Assert.True(await CaseContext.EventuallyAsync(() =>
                {
                    var processes = HostProcesses.OwnedBy(sandbox.HostUid, sandbox.WorkspacePath);
                    return processes.Any(p => p.CommandLine.StartsWith("sleep 600", StringComparison.Ordinal)) && processes.Count(p => p.CommandLine.Contains("python3", StringComparison.Ordinal)) >= 2;
                }, TimeSpan.FromSeconds(5)), "the survivors were never seen on the host");
                var before = HostProcesses.OwnedBy(sandbox.HostUid, sandbox.WorkspacePath);
                var image = Path.Combine(context.Fixture.StateDirectory, "images", Path.GetFileName(sandbox.WorkspacePath) + ".img");
                Assert.True(File.Exists(image), "no image file at " + image);

                await context.EndSessionAsync(context.Red, id);
                bool gone = await CaseContext.EventuallyAsync(() =>
                    HostProcesses.OwnedBy(sandbox.HostUid, sandbox.WorkspacePath).Count == 0
                    && !Directory.Exists(sandbox.WorkspacePath)
                    && !File.Exists(image)
                    && !HostView.MountPoints().Contains(sandbox.WorkspacePath), TimeSpan.FromSeconds(10));
                var left = HostProcesses.OwnedBy(sandbox.HostUid, sandbox.WorkspacePath);
                Assert.True(gone, $"left after DELETE: {left.Count} processes ({string.Join(", ", left.Select(p => $"{p.Pid} {p.CommandLine}"))}), workspace {(Directory.Exists(sandbox.WorkspacePath) ? "present" : "gone")}, image {(File.Exists(image) ? "present" : "gone")}");
                return $"before DELETE the host saw {before.Count} processes as uid {sandbox.HostUid} ({string.Join(", ", before.Select(p => p.CommandLine.Split(' ')[0] + (p.CommandLine.Contains("sleep", StringComparison.Ordinal) ? " sleep" : "")).Distinct())}); after: none, workspace, mount and image gone";
            });

        yield return new SecurityCase(Persistence, "background processes outlive a restart of the session", "cgroup kill-all on restart",
            "after POST /restart the old processes are gone from the host; the files are kept", async context =>
            {
                var id = context.Fixture.AttackerSessionId;
                var started = await context.RunAsync(StartSurvivors, 15, id, context.Red);
                SecurityCase.AssertExec(started, "ok", ["started a nohup sleeper"], []);
                var sandbox = await HostView.LocateAsync(context, id, context.Red);
                var old = sandbox.Processes.Select(p => p.Pid).ToHashSet();
                Assert.Contains(sandbox.Processes, p => p.CommandLine.StartsWith("sleep 600", StringComparison.Ordinal));

                var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Post, $"/v1/sessions/{id}/restart");
                Assert.True(status == HttpStatusCode.OK, $"restart: {(int)status} {body}");
                bool gone = await CaseContext.EventuallyAsync(() => !HostProcesses.All().Any(p => old.Contains(p.Pid) && p.Uid == sandbox.HostUid), TimeSpan.FromSeconds(10));
                Assert.True(gone, "processes of the old interpreter are still alive");
                var check = await context.RunAsync("""
                    import os, time
                    print('=> planted file kept:', open('planted.txt').read() == 'still here')
                    before = os.path.getmtime('daemon-alive'); t = time.time()
                    while time.time() - t < 1:
                        pass
                    print('=> daemon still writing:', os.path.getmtime('daemon-alive') != before)
                    os.unlink('planted.txt'); os.unlink('daemon-alive')
                    """, 15, id, context.Red);
                SecurityCase.AssertExec(check, "ok", ["planted file kept: True", "daemon still writing: False"], []);
                return $"{old.Count} old processes gone after restart; {check.Describe()}";
            });
    }
}
